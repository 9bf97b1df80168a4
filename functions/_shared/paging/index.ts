/**
 * Keyset pages over rows ordered newest first by a timestamp and a bigint id (events, jobs,
 * dead letters, audit rows). A cursor is the last row's timestamp in microseconds since the
 * epoch and its id, `<microseconds>.<id>`: the next page starts strictly after that row, so
 * pages neither skip nor repeat rows inserted meanwhile.
 *
 * A query selects its timestamp as `cursor_us` (`KEYSET_US`), filters with `keysetAfter`
 * and orders by `<timestamp> desc, id desc`; `pageOf` takes its rows (one more than the
 * page, to tell whether another page follows) and builds the page.
 */

/** Where a page starts: strictly after the row with these values. */
export interface Keyset {
  /** The timestamp in microseconds since the epoch, as decimal text. */
  readonly us: string;
  /** The id, as text (decimal for a bigint, canonical for a uuid). */
  readonly id: string;
}

/** The type of the id that breaks ties: a bigint (events, jobs, audit rows) or a uuid. */
export type KeysetId = 'int8' | 'uuid';

export interface Page<T> {
  readonly items: T[];
  /** The cursor of the next page; null on the last one. */
  readonly nextCursor: string | null;
}

const CURSORS: Record<KeysetId, RegExp> = {
  int8: /^(-?\d{1,19})\.(\d{1,19})$/,
  uuid: /^(-?\d{1,19})\.([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/,
};

/** A cursor this module gave out for ids of type `id`, or null when `text` is not one. */
export function parseCursor(text: string, id: KeysetId = 'int8'): Keyset | null {
  const match = CURSORS[id].exec(text);
  return match ? { us: match[1]!, id: match[2]! } : null;
}

/** The select-list expression of `column` in microseconds, as `cursor_us`. */
export const KEYSET_US = (column: string) =>
  `(extract(epoch from ${column}) * 1000000)::int8::text as cursor_us`;

/**
 * The condition `(column, id) < cursor`, taking the cursor's microseconds and id as
 * parameters `$us` and `$us + 1` (both null for the first page). It repeats the bound on
 * `column` alone, which an index on the timestamp can serve (a row comparison it cannot),
 * so a later page starts where it is rather than after every row before it.
 *
 * @example
 * `where ... and ${keysetAfter('e.received_at', 'e.id', 7)}` // values [..., ...keysetValues(after)]
 */
export function keysetAfter(
  column: string,
  id: string,
  us: number,
  idType: KeysetId = 'int8',
): string {
  const at = `(timestamptz 'epoch' + $${us}::int8 * interval '1 microsecond')`;
  const afterId = `$${us + 1}::${idType}`;
  const after = `${column} <= ${at} and (${column}, ${id}) < (${at}, ${afterId})`;
  return `($${us}::int8 is null or (${after}))`;
}

/** The parameters `keysetAfter` reads: the cursor's microseconds and id, or two nulls. */
export function keysetValues(after: Keyset | null | undefined): [string | null, string | null] {
  return after ? [after.us, after.id] : [null, null];
}

/**
 * The page of `rows` (fetched with `limit + 1`): at most `limit` items made by `item`, and
 * the next cursor when a further row came back.
 */
export function pageOf<R extends { cursor_us: unknown; id: unknown }, T>(
  rows: readonly R[],
  limit: number,
  item: (row: R) => T,
): Page<T> {
  const count = Math.min(rows.length, limit);
  const items = rows.slice(0, count).map(item);
  const last = rows[count - 1];
  const nextCursor = rows.length > limit && last ? `${last.cursor_us}.${last.id}` : null;
  return { items, nextCursor };
}
