/**
 * A request whose values the database refuses fails alone, as InputRefusedError, even when
 * it shared a call with good requests; the good ones are stored. Against the real database.
 */
import { describe, expect, it } from 'vitest';
import { useMigratedDatabase } from '../../../tests/support/migrated.ts';
import { DatabaseUnavailableError } from '../db/types.ts';
import type { IntakeEvent } from './events/types.ts';
import { createIngestor, type IngestCall, type IngestLimits } from './ingest.ts';
import { asInputRefusal, InputRefusedError } from './input-refused.ts';
import { NO_SHEDDING } from '../../../tests/support/ingest.ts';

const database = useMigratedDatabase();

const NO_LIMITS: IngestLimits = { global: null, sender: null };

/** Random visible ASCII: incompressible, so its index entry stays as large as it is. */
function randomKey(length: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  return Array.from(bytes, (byte) => String.fromCharCode(0x21 + (byte % 94))).join('');
}

const event = (key: string, payload: unknown = { key }): IntakeEvent => ({
  key,
  type: 'test',
  kind: 'test.event',
  sender: null,
  payload,
});

async function stored(provider: string): Promise<string[]> {
  const rows = await database.db.query<{ event_key: string }>(
    'select event_key from inbound_events where provider = $1 order by event_key',
    [provider],
  );
  return rows.map((row) => row.event_key);
}

describe('asInputRefusal', () => {
  it('turns a class 22 or 54 error into InputRefusedError, keeping it as the cause', () => {
    const driver = Object.assign(new Error('index row size 3000 exceeds maximum'), {
      code: '54000',
    });
    const refused = asInputRefusal(driver);
    expect(refused).toBeInstanceOf(InputRefusedError);
    expect(refused).toMatchObject({ sqlstate: '54000', cause: driver });
    // Our message is generic: the server's text (which names indexes) is not in it.
    expect((refused as Error).message).not.toContain('index row');
  });

  it('leaves every other error as it is', () => {
    const unavailable = new DatabaseUnavailableError('down');
    const syntax = Object.assign(new Error('syntax'), { code: '42601' });
    expect(asInputRefusal(unavailable)).toBe(unavailable);
    expect(asInputRefusal(syntax)).toBe(syntax);
  });
});

describe('the ingestor, given values the database refuses', () => {
  it.each([
    ['a key too large for its index', () => event(randomKey(4000)), '54000'],
    ['a NUL in the payload', () => event(`nul-${randomKey(8)}`, { text: 'a\u0000b' }), '22P05'],
    [
      'a lone surrogate in the payload',
      () => event(`sur-${randomKey(8)}`, { text: 'a\ud800b' }),
      '22P02',
    ],
  ])('fails only the request with %s, which shared a call with good ones', async (
    _name,
    hostile,
    sqlstate,
  ) => {
    const provider = `refused-${sqlstate}`;
    const calls: IngestCall[] = [];
    const ingestor = createIngestor(database.db, {
      // Shedding would only answer good requests 503 while the shared call is retried.
      overload: NO_SHEDDING,
      onCall: (call) => calls.push(call),
    });
    const request = (events: IntakeEvent[], requestId: string) =>
      ingestor.ingest({ provider, requestId, events, limits: NO_LIMITS });
    // Made in one turn, the three requests go out in one call.
    const results = await Promise.allSettled([
      request([event('good-a')], 'a'),
      request([hostile()], 'hostile'),
      request([event('good-b'), event('good-c')], 'b'),
    ]);

    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const refusal = (results[1] as PromiseRejectedResult).reason;
    expect(refusal).toBeInstanceOf(InputRefusedError);
    expect(refusal).toMatchObject({ sqlstate });
    for (const index of [0, 2]) {
      const outcomes = (results[index] as PromiseFulfilledResult<{ outcome: string }[]>).value;
      expect(outcomes.every((outcome) => outcome.outcome === 'accepted')).toBe(true);
    }
    expect(await stored(provider)).toEqual(['good-a', 'good-b', 'good-c']);
    // The shared call failed as a whole; then each request went alone.
    expect(calls[0]).toMatchObject({ events: 4, ok: false });
    expect(calls.slice(1).map(({ events, ok }) => ({ events, ok })).sort(byEvents)).toEqual([
      { events: 1, ok: false },
      { events: 1, ok: true },
      { events: 2, ok: true },
    ].sort(byEvents));
  });

  it('answers a lone refused request with InputRefusedError, storing nothing', async () => {
    const ingestor = createIngestor(database.db, { overload: NO_SHEDDING });
    await expect(
      ingestor.ingest({
        provider: 'refused-alone',
        requestId: 'r',
        events: [event('fine'), event(randomKey(4000))],
        limits: NO_LIMITS,
      }),
    ).rejects.toBeInstanceOf(InputRefusedError);
    expect(await stored('refused-alone')).toEqual([]);
  });
});

function byEvents(a: { events: number; ok: boolean }, b: { events: number; ok: boolean }) {
  return a.events - b.events || Number(a.ok) - Number(b.ok);
}
