/**
 * Finds top-level transaction control (`begin`, `commit`, ...) in a migration script.
 *
 * The runner applies each file inside its own transaction, together with the advisory lock
 * and the row that records it. A `commit` in the file would end that transaction early:
 * the lock is released before the record is written, so a concurrent runner could apply
 * the file a second time, and a later failure would no longer roll the file back. Such a
 * file is refused before anything runs.
 *
 * The scan skips comments, quoted strings, quoted identifiers and dollar-quoted bodies
 * (plpgsql `begin ... end` lives there), and looks only at the first word of each
 * statement. `end` is not reported: it also closes `begin atomic` function bodies.
 */

export interface TransactionControlStatement {
  /** The statement's first word(s), lowercased, e.g. `commit`, `start transaction`. */
  readonly statement: string;
  /** 1-based character offset in the script, as Postgres reports positions. */
  readonly position: number;
}

const IDENTIFIER_CHAR = /[A-Za-z0-9_$]/;
const WORD = /[A-Za-z_]+/y;
const DOLLAR_TAG = /\$([A-Za-z_][A-Za-z0-9_]*)?\$/y;

export function findTransactionControl(sql: string): TransactionControlStatement | undefined {
  let atStatementStart = true;
  let i = 0;
  while (i < sql.length) {
    const char = sql[i]!;
    const next = sql[i + 1];
    if (char === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end + 1;
    } else if (char === '/' && next === '*') {
      i = skipBlockComment(sql, i);
    } else if (/\s/.test(char)) {
      i += 1;
    } else if (char === ';') {
      atStatementStart = true;
      i += 1;
    } else {
      if (atStatementStart) {
        atStatementStart = false;
        const found = transactionControlAt(sql, i);
        if (found) return found;
      }
      i = skipToken(sql, i);
    }
  }
  return undefined;
}

function transactionControlAt(sql: string, start: number): TransactionControlStatement | undefined {
  const first = wordAt(sql, start);
  if (first === undefined) return undefined;
  const rest = sql.slice(start + first.length);
  const second = wordAt(rest, rest.length - rest.trimStart().length);
  switch (first.toLowerCase()) {
    case 'begin':
    case 'commit':
    case 'abort':
      return { statement: first.toLowerCase(), position: start + 1 };
    case 'rollback':
      // `rollback to savepoint` stays inside the transaction.
      if (second?.toLowerCase() === 'to') return undefined;
      return { statement: 'rollback', position: start + 1 };
    case 'start':
      if (second?.toLowerCase() !== 'transaction') return undefined;
      return { statement: 'start transaction', position: start + 1 };
    default:
      return undefined;
  }
}

function wordAt(text: string, index: number): string | undefined {
  WORD.lastIndex = index;
  return WORD.exec(text)?.[0];
}

/** Skips one token (string, quoted identifier, dollar-quoted body, or any other character). */
function skipToken(sql: string, i: number): number {
  const char = sql[i]!;
  if (char === "'") {
    const escapes = /[eE]/.test(sql[i - 1] ?? '') && !IDENTIFIER_CHAR.test(sql[i - 2] ?? '');
    return skipQuoted(sql, i, "'", escapes);
  }
  if (char === '"') return skipQuoted(sql, i, '"', false);
  if (char === '$' && !IDENTIFIER_CHAR.test(sql[i - 1] ?? '')) {
    DOLLAR_TAG.lastIndex = i;
    const tag = DOLLAR_TAG.exec(sql)?.[0];
    if (tag !== undefined) {
      const end = sql.indexOf(tag, i + tag.length);
      return end === -1 ? sql.length : end + tag.length;
    }
  }
  if (IDENTIFIER_CHAR.test(char)) {
    let j = i + 1;
    while (j < sql.length && IDENTIFIER_CHAR.test(sql[j]!)) j += 1;
    return j;
  }
  return i + 1;
}

function skipQuoted(sql: string, i: number, quote: string, backslashEscapes: boolean): number {
  let j = i + 1;
  while (j < sql.length) {
    const char = sql[j]!;
    if (backslashEscapes && char === '\\') {
      j += 2;
    } else if (char === quote) {
      if (sql[j + 1] !== quote) return j + 1;
      j += 2;
    } else {
      j += 1;
    }
  }
  return j;
}

function skipBlockComment(sql: string, i: number): number {
  // Postgres block comments nest.
  let depth = 0;
  let j = i;
  while (j < sql.length) {
    if (sql[j] === '/' && sql[j + 1] === '*') {
      depth += 1;
      j += 2;
    } else if (sql[j] === '*' && sql[j + 1] === '/') {
      depth -= 1;
      j += 2;
      if (depth === 0) return j;
    } else {
      j += 1;
    }
  }
  return j;
}
