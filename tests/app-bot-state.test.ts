/**
 * Where a WhatsApp sender stands, read in one statement: their profile (made on their first
 * message) and their conversation, locked for the message's job. Two messages of a new user
 * handled at once end up on one profile, the second seeing what the first saved.
 */
import { describe, expect, it } from 'vitest';
import { saveConversation, standingOf } from '../functions/_app/bot/state.ts';
import { useMigratedDatabase } from './support/migrated.ts';

const database = useMigratedDatabase({
  reset: 'delete from whatsapp_conversations; delete from profiles;',
});

const RIDE = { flow: 'ride', step: 'dropoff', data: { pickup: 'Kencom' } };

describe('a sender’s standing', () => {
  it('makes the profile of a new number, then finds it with the conversation it saved', async () => {
    const first = await database.db.transaction(async (tx) => {
      const standing = await standingOf(tx, '254711000001', 'Ada');
      await saveConversation(tx, standing.profileId, RIDE, 'wamid.A1');
      return standing;
    });
    expect(first.conversation).toEqual({ flow: null, step: null, data: {} });

    const again = await database.db.transaction((tx) => standingOf(tx, '254711000001', 'Ada'));
    expect(again).toEqual({ profileId: first.profileId, conversation: RIDE });
    const profiles = await database.db.query(
      `select display_name, wa_phone, wa_verified_at is not null as verified from profiles`,
    );
    expect(profiles).toEqual([{ display_name: 'Ada', wa_phone: '+254711000001', verified: true }]);
  });

  it('starts over from the menu after a long silence', async () => {
    const { profileId } = await database.db.transaction(async (tx) => {
      const standing = await standingOf(tx, '254711000002', null);
      await saveConversation(tx, standing.profileId, RIDE, 'wamid.B1');
      return standing;
    });
    await database.db.query(
      `update whatsapp_conversations set updated_at = now() - interval '2 hours'`,
    );
    expect(await database.db.transaction((tx) => standingOf(tx, '254711000002', null)))
      .toEqual({ profileId, conversation: { flow: null, step: null, data: {} } });
  });
});
