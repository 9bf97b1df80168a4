/**
 * Two messages of a new WhatsApp user handled at once end up on one profile, the second
 * seeing what the first saved. Two sessions at once: Postgres only (vitest.config.ts leaves
 * it out on the embedded engine, which runs one session at a time).
 */
import { describe, expect, it } from 'vitest';
import { saveConversation, standingOf } from '../functions/_app/bot/state.ts';
import { useMigratedDatabase } from './support/migrated.ts';

const database = useMigratedDatabase({
  reset: 'delete from whatsapp_conversations; delete from profiles;',
});

const RIDE = { flow: 'ride', step: 'dropoff', data: { pickup: 'Kencom' } };

describe('a new sender’s two messages at once', () => {
  it(
    'puts two messages of a new user handled at once on one profile',
    async () => {
      const first = database.connect({ max: 1 });
      const second = database.connect({ max: 1 });
      let firstMade!: (profileId: string) => void;
      const made = new Promise<string>((resolve) => (firstMade = resolve));
      let commit!: () => void;
      const committed = new Promise<void>((resolve) => (commit = resolve));
      const one = first.transaction(async (tx) => {
        const standing = await standingOf(tx, '254711000003', 'Ada');
        await saveConversation(tx, standing.profileId, RIDE, 'wamid.C1');
        firstMade(standing.profileId);
        await committed;
      });
      const profileId = await made;
      // The second waits on the first's new profile until the first commits.
      const two = second.transaction((tx) => standingOf(tx, '254711000003', 'Ada'));
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        const [waiting] = await database.db.query<{ n: number }>(
          `select count(*)::int as n from pg_stat_activity
            where datname = current_database() and wait_event_type = 'Lock'`,
        );
        if (waiting!.n > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      commit();
      await one;
      expect(await two).toEqual({ profileId, conversation: RIDE });
      expect(await database.db.query('select id from profiles')).toEqual([{ id: profileId }]);
      await Promise.all([first.close(), second.close()]);
    },
  );
});
