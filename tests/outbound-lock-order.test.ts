/**
 * An attempt starting at a message while the message before it with the same ordering key
 * finishes: the start locks its message and waits for the endpoint's row, which the finish
 * holds while it lets the next message go. Two sessions at once: Postgres only
 * (vitest.config.ts leaves it out on the embedded engine, which runs one session at a time).
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { createSecretBox, emitEvent } from '../functions/_shared/outbound/index.ts';
import { createEndpoint } from '../functions/_shared/outbound/endpoints.ts';
import { useMigratedDatabase } from './support/migrated.ts';

const database = useMigratedDatabase();
const KEY = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
const box = createSecretBox(parseConfig({ GATEHOUSE_ENCRYPTION_KEY: KEY }).outbound.encryptionKeys);

async function lockWaits(): Promise<number> {
  const [row] = await database.db.query<{ n: number }>(
    `select count(*)::int as n from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock'`,
  );
  return row!.n;
}

describe('ordered messages at one endpoint', () => {
  it('lets the next message go without a deadlock when its attempt starts while the one before finishes', async () => {
    const { endpoint } = await createEndpoint(database.db, {
      url: 'http://127.0.0.1:9/hook',
      eventTypes: ['*'],
    }, box);
    for (const n of [1, 2]) {
      await database.db.transaction((tx) =>
        emitEvent(tx, 'ride.updated', { n }, { orderingKey: 'ride-9' })
      );
    }
    const [first, second] = await database.db.query<{ id: string; status: string }>(
      'select id, status from outbound_messages where endpoint_id = $1 order by id',
      [endpoint.id],
    );
    expect([first!.status, second!.status]).toEqual(['pending', 'waiting']);
    const [begun] = await database.db.query<{ outcome: string }>(
      'select outcome from webhook_message_begin($1, 30000, 1)',
      [first!.id],
    );
    expect(begun!.outcome).toBe('go');

    const finisher = database.connect({ max: 1 });
    const starter = database.connect({ max: 1 });
    try {
      let promote!: () => void;
      const promoting = new Promise<void>((resolve) => (promote = resolve));
      let holding!: () => void;
      const held = new Promise<void>((resolve) => (holding = resolve));
      // The finish of the first, paused after it took the endpoint's row.
      const finishing = finisher.transaction(async (tx) => {
        await tx.query('select 1 from outbound_messages where id = $1 for no key update', [
          first!.id,
        ]);
        await tx.query('select 1 from webhook_endpoints where id = $1 for no key update', [
          endpoint.id,
        ]);
        await tx.query(`update outbound_messages set status = 'succeeded' where id = $1`, [
          first!.id,
        ]);
        holding();
        await promoting;
        await tx.query('select gatehouse.webhook_promote_next($1, $2)', [endpoint.id, 'ride-9']);
      });
      await held;
      // The second's attempt starts meanwhile: it locks its message, then waits.
      const starting = starter.query<{ outcome: string }>(
        'select outcome from webhook_message_begin($1, 30000, 2)',
        [second!.id],
      );
      const deadline = Date.now() + 10_000;
      while ((await lockWaits()) === 0) {
        if (Date.now() > deadline) throw new Error('the start never waited for the endpoint');
        await new Promise((next) => setTimeout(next, 10));
      }
      promote();
      await finishing;
      const [started] = await starting;
      expect(started!.outcome).toBe('go');
      expect(
        await database.db.query('select status from outbound_messages where id = $1', [
          second!.id,
        ]),
      ).toEqual([{ status: 'delivering' }]);
    } finally {
      await Promise.all([finisher.close(), starter.close()]);
    }
  });
});
