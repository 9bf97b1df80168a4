import { once } from 'node:events';
import { connect as connectTcp, type Socket } from 'node:net';
import { PGlite } from '@electric-sql/pglite';
import postgres from 'postgres';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { serveWire, type WireServer, type WireSession } from './embedded-wire.ts';

describe('the embedded wire protocol server', () => {
  let pglite: PGlite;
  let server: WireServer;
  const clients: postgres.Sql[] = [];
  const connect = (options: { connect_timeout?: number } = {}) => {
    const sql = postgres(`postgres://postgres@127.0.0.1:${server.port}/postgres`, {
      max: 1,
      prepare: false,
      onnotice: () => undefined,
      ...options,
    });
    clients.push(sql);
    return sql;
  };
  const start = async (options: { maxConnections?: number; ownerIdleMs?: number } = {}) => {
    server = await serveWire(pglite as unknown as WireSession, {
      host: '127.0.0.1',
      port: 0,
      maxConnections: options.maxConnections ?? 8,
      ownerIdleMs: options.ownerIdleMs,
    });
  };

  beforeEach(async () => {
    pglite = await PGlite.create();
    await pglite.exec('create table t (id int)');
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.end({ timeout: 1 })));
    await server.stop();
    await pglite.close();
  });

  it("keeps each connection's Parse, Bind and Execute together", async () => {
    await start();
    const a = connect();
    const b = connect();
    // Statements with different parameter counts from two connections at once: a Bind
    // meeting the other connection's unnamed statement would be refused.
    const runs = Array.from({ length: 50 }, (_, i) => [
      a`select ${i}::int + ${1}::int + ${2}::int as n`.then((r) => r[0]!.n),
      b`select ${i}::int + ${1}::int + ${2}::int + ${3}::int + ${4}::int as n`.then((r) => r[0]!.n),
    ]).flat();
    const results = await Promise.all(runs);
    expect(results).toEqual(Array.from({ length: 50 }, (_, i) => [i + 3, i + 10]).flat());
  });

  it("runs no other connection's statement inside a transaction", async () => {
    await start();
    const a = connect();
    const b = connect();
    await a`select 1`;
    await b`select 1`;
    let counted: number | null = null;
    let seenInside: number | null | undefined;
    await a.begin(async (tx) => {
      await tx`insert into t values (1)`;
      // b's statement is queued before a's next ones; it still waits for a's commit.
      void b`select count(*)::int as n from t`.then((r) => {
        counted = r[0]!.n;
      });
      for (let i = 0; i < 5; i++) await tx`select ${i}::int`;
      seenInside = counted;
    });
    expect(seenInside).toBeNull();
    await expect.poll(() => counted).toBe(1);
  });

  it('rolls back and closes a connection that holds a transaction and goes quiet', async () => {
    await start({ ownerIdleMs: 300 });
    const quiet = await openTransaction(server.port);
    const closed = once(quiet, 'close');
    // b waits behind the open transaction until the server gives up on it.
    const [row] = await connect()`select count(*)::int as n from t`;
    expect(row!.n).toBe(0);
    await closed;
    expect(server.stats().connections).toBe(1);
  });

  it('rolls back the transaction of a connection that goes away', async () => {
    await start();
    const gone = await openTransaction(server.port);
    const counting = connect()`select count(*)::int as n from t`;
    gone.destroy();
    const [row] = await counting;
    expect(row!.n).toBe(0);
  });

  it('refuses a connection over the limit with SQLSTATE 53300', async () => {
    await start({ maxConnections: 1 });
    const a = connect();
    await a`select 1`;
    // postgres.js takes 53300 as passing and retries until its connect timeout.
    const b = connect({ connect_timeout: 1 });
    await expect(b`select 1`).rejects.toMatchObject({ code: '53300' });
    expect(await a`select 2 as n`).toEqual([{ n: 2 }]);
  });
});

/** A raw connection that begins a transaction, inserts a row into t, and says no more. */
async function openTransaction(port: number): Promise<Socket> {
  const socket = connectTcp(port, '127.0.0.1');
  await once(socket, 'connect');
  const params = Buffer.from('user\0postgres\0database\0postgres\0\0');
  const startup = Buffer.alloc(8);
  startup.writeInt32BE(8 + params.length, 0);
  startup.writeInt32BE(196608, 4);
  const sql = Buffer.from('begin; insert into t values (1)\0');
  const query = Buffer.alloc(5);
  query.write('Q', 0);
  query.writeInt32BE(4 + sql.length, 1);
  let received = Buffer.alloc(0);
  const inTransaction = new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      // ReadyForQuery with status T: the transaction is open.
      if (received.includes(Buffer.from([0x5a, 0, 0, 0, 5, 0x54]))) resolve();
    });
  });
  socket.write(Buffer.concat([startup, params, query, sql]));
  await inTransaction;
  return socket;
}
