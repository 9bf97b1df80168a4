import { describe, expect, it } from 'vitest';
import { findTransactionControl } from './transaction-control.ts';

describe('findTransactionControl', () => {
  it.each([
    ['begin;\ncreate table t (id int);\ncommit;', 'begin', 1],
    ['create table t (id int);\nCOMMIT;', 'commit', 26],
    ['create table t (id int); rollback;', 'rollback', 26],
    ['-- set up\nstart transaction isolation level serializable;', 'start transaction', 11],
    ['select 1; /* done */ abort;', 'abort', 22],
  ])('finds top-level transaction control in %j', (sql, statement, position) => {
    expect(findTransactionControl(sql)).toEqual({ statement, position });
  });

  it.each([
    // plpgsql bodies are dollar-quoted, however they are tagged.
    `create function f() returns void language plpgsql as $$
     begin
       perform 1;
     end;
     $$;`,
    `do $body$ begin commit; end $body$;`,
    // SQL-standard bodies end with "end;".
    `create function g() returns int language sql begin atomic select 1; end;`,
    // Words inside strings, identifiers and comments.
    `insert into notes (body) values ('x; commit; y');`,
    `insert into notes (body) values (E'it\\'s; commit;');`,
    `create table "begin" (id int); select * from "begin";`,
    `-- commit;\n/* outer /* nested; commit; */ still comment; rollback; */ select 1;`,
    // Savepoints stay inside the transaction; words that merely start with "begin".
    `savepoint s; rollback to savepoint s; release savepoint s;`,
    `select beginning from t; start_time;`,
  ])('ignores %j', (sql) => {
    expect(findTransactionControl(sql)).toBeUndefined();
  });
});
