import type { Queryable } from '../../_shared/db/types.ts';
import { typed } from '../../_shared/db/types.ts';

/** A conversation unanswered this long starts over from the menu. */
export const CONVERSATION_TTL_MINUTES = 30;

export interface Conversation {
  readonly flow: string | null;
  readonly step: string | null;
  readonly data: Readonly<Record<string, unknown>>;
}

export const FRESH: Conversation = { flow: null, step: null, data: {} };

/**
 * The profile of the WhatsApp user `from` (Meta's digits), made on their first message:
 * a number is only matched to a profile whose number is proven (`wa_verified_at`), never to
 * one where a user merely typed it. Safe when two messages of a new user run at once.
 */
export async function profileFor(
  tx: Queryable,
  from: string,
  name: string | null,
): Promise<string> {
  const phone = `+${from}`;
  const [made] = await tx.query<{ id: string }>(
    `insert into public.profiles (id, display_name, wa_phone, wa_verified_at)
     values (gen_random_uuid(), $2, $1, now())
     on conflict (wa_phone) where wa_verified_at is not null do nothing
     returning id`,
    [typed(phone, 'text'), typed(name, 'text')],
  );
  if (made) return made.id;
  const [found] = await tx.query<{ id: string }>(
    `select id from public.profiles where wa_phone = $1 and wa_verified_at is not null`,
    [typed(phone, 'text')],
  );
  if (!found) throw new Error('the proven profile of a WhatsApp number vanished');
  return found.id;
}

/** Where a sender stands: their profile, and their conversation, locked for this job. */
export interface Standing {
  readonly profileId: string;
  readonly conversation: Conversation;
}

/**
 * {@link profileFor} and {@link loadConversation} in one statement, so a message costs one
 * round trip for both (`gatehouse.whatsapp_standing`, a function so that its plan is kept by
 * the connection instead of made for every message). When another message of the same new
 * user made the profile while this statement waited for it, the statement cannot see that
 * profile yet (it reads from before it started); the two steps then run on their own, and
 * see it.
 */
export async function standingOf(
  tx: Queryable,
  from: string,
  name: string | null,
): Promise<Standing> {
  const [row] = await tx.query<{
    id: string;
    flow: string | null;
    step: string | null;
    data: Record<string, unknown> | null;
    stale: boolean | null;
  }>(
    'select id, flow, step, data, stale from gatehouse.whatsapp_standing($1, $2, $3)',
    [typed(`+${from}`, 'text'), typed(name, 'text'), typed(CONVERSATION_TTL_MINUTES, 'int4')],
  );
  if (!row) {
    const profileId = await profileFor(tx, from, name);
    return { profileId, conversation: await loadConversation(tx, profileId) };
  }
  const fresh = row.stale === null || row.stale;
  return {
    profileId: row.id,
    conversation: fresh ? FRESH : { flow: row.flow, step: row.step, data: row.data ?? {} },
  };
}

/** The conversation where it stands, locked for this job (fresh when none or stale). */
export async function loadConversation(tx: Queryable, profileId: string): Promise<Conversation> {
  const [row] = await tx.query<{
    flow: string | null;
    step: string | null;
    data: Record<string, unknown>;
    stale: boolean;
  }>(
    `select flow, step, data,
            updated_at < now() - make_interval(mins => $2) as stale
       from public.whatsapp_conversations where id = $1 for update`,
    [typed(profileId, 'uuid'), typed(CONVERSATION_TTL_MINUTES, 'int4')],
  );
  if (!row || row.stale) return FRESH;
  return { flow: row.flow, step: row.step, data: row.data ?? {} };
}

/** Records where the conversation stands now, and the message it answered. */
export async function saveConversation(
  tx: Queryable,
  profileId: string,
  conversation: Conversation,
  messageId: string,
): Promise<void> {
  await tx.query(
    `insert into public.whatsapp_conversations (id, flow, step, data, last_message_id, updated_at)
     values ($1, $2, $3, $4, $5, now())
     on conflict (id) do update set flow = excluded.flow, step = excluded.step,
       data = excluded.data, last_message_id = excluded.last_message_id, updated_at = now()`,
    [
      typed(profileId, 'uuid'),
      typed(conversation.flow, 'text'),
      typed(conversation.step, 'text'),
      typed(conversation.data, 'jsonb'),
      typed(messageId, 'text'),
    ],
  );
}
