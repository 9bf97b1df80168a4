/**
 * Which database errors count as refusing the values, read off errors the real database
 * raises (Postgres or the embedded engine, whichever the run targets).
 */
import { describe, expect, it } from 'vitest';
import { useMigratedDatabase } from '../../../tests/support/migrated.ts';
import { inputRefusalSqlstate, isInputRefusal } from './sqlstate.ts';
import { DatabaseTimeoutError, DatabaseUnavailableError } from './types.ts';

const database = useMigratedDatabase();

async function failure(text: string, values: unknown[] = []): Promise<unknown> {
  try {
    await database.db.query(text, values);
  } catch (error) {
    return error;
  }
  throw new Error(`expected ${text} to fail`);
}

/** A random visible-ASCII string: incompressible, so an index cannot shrink it. */
function randomText(length: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  return Array.from(bytes, (byte) => String.fromCharCode(0x21 + (byte % 94))).join('');
}

describe('isInputRefusal', () => {
  it.each([
    ['a \\u0000 escape in jsonb', `select $1::text::jsonb`, ['"a\\u0000b"'], '22P05'],
    ['a lone surrogate escape in jsonb', `select $1::text::jsonb`, ['"\\ud800"'], '22P02'],
    ['malformed JSON text', `select $1::text::jsonb`, ['{"a":'], '22P02'],
    ['a number out of range', `select $1::text::numeric::int`, ['1e30'], '22003'],
  ])('is true for %s', async (_name, text, values, code) => {
    const error = await failure(text, values);
    expect(inputRefusalSqlstate(error)).toBe(code);
    expect(isInputRefusal(error)).toBe(true);
  });

  it('is true for a key too large for its unique index (54000)', async () => {
    const error = await failure(
      `insert into inbound_events (provider, event_key, event_type, payload)
       values ('sqlstate-test', $1, 't', '{}')`,
      [randomText(4000)],
    );
    expect(inputRefusalSqlstate(error)).toBe('54000');
  });

  it('is false for errors that are not about the values', async () => {
    expect(isInputRefusal(await failure('select * from no_such_table'))).toBe(false); // 42P01
    expect(isInputRefusal(await failure('selec 1'))).toBe(false); // 42601
    // 22023, as our functions raise it for settings only our code passes.
    expect(
      isInputRefusal(
        await failure('select * from ingest_events($1, $2::jsonb, $3::jsonb)', [
          'sqlstate-test',
          [{ slot: 0, key: 'k', type: 't', kind: 'k', sender: '+1', payload: {} }],
          { sender: { capacity: 0, refill_per_second: 1 } },
        ]),
      ),
    ).toBe(false);
  });

  it('looks through causes, but never through "not now"', () => {
    const refused = Object.assign(new Error('driver'), { code: '54001' });
    expect(inputRefusalSqlstate(new Error('wrapped', { cause: refused }))).toBe('54001');
    expect(isInputRefusal(new DatabaseUnavailableError('down', { cause: refused }))).toBe(false);
    expect(isInputRefusal(new DatabaseTimeoutError('slow', { cause: refused }))).toBe(false);
  });

  it('reads only SQLSTATE-shaped codes', () => {
    for (const code of ['22', '220000', 'ECONNRESET', 'EPIPE', 22001, '22p05']) {
      expect(isInputRefusal(Object.assign(new Error('x'), { code })), String(code)).toBe(false);
    }
    expect(isInputRefusal(null)).toBe(false);
    expect(isInputRefusal('22P05')).toBe(false);
  });

  it('stops on a cycle of causes', () => {
    const a: { cause?: unknown } = {};
    a.cause = { cause: a };
    expect(isInputRefusal(a)).toBe(false);
  });
});
