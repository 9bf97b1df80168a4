import { access } from 'node:fs/promises';
import { connect } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { startThrowawayCluster, type ThrowawayCluster } from './cluster.ts';

const made: ThrowawayCluster[] = [];
afterAll(() => Promise.all(made.map((cluster) => cluster.destroy())));

async function cluster(): Promise<ThrowawayCluster> {
  const started = await startThrowawayCluster();
  made.push(started);
  return started;
}

/** Whether anything accepts a TCP connection on 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

describe('startThrowawayCluster', () => {
  it('answers on its own loopback port, never the machine service', async () => {
    const pg = await cluster();
    expect(pg.port).not.toBe(5432);
    expect(pg.url).toBe(`postgres://postgres@127.0.0.1:${pg.port}/postgres`);
    const [row] = await pg.query<{ listen: string; fsync: string; connections: string }>(
      `select current_setting('listen_addresses') as listen, current_setting('fsync') as fsync,
              current_setting('max_connections') as connections`,
    );
    expect(row).toEqual({ listen: '127.0.0.1', fsync: 'on', connections: '100' });
  });

  it('stops and starts on the same data, keeping rows, as often as asked', async () => {
    const pg = await cluster();
    await pg.query('create table kept (id int primary key)');
    await pg.query('insert into kept values ($1), ($2)', [1, 2]);

    await pg.stop('immediate');
    expect(await pg.running()).toBe(false);
    expect(await listening(pg.port)).toBe(false);
    await expect(pg.query('select 1')).rejects.toThrow(/ECONNREFUSED/);
    await pg.stop('immediate'); // already down: a no-op

    await pg.start();
    await pg.query('insert into kept values ($1)', [3]);
    await pg.stop('fast');
    await pg.start();
    await pg.restart();
    expect(await pg.running()).toBe(true);
    const rows = await pg.query<{ id: number }>('select id from kept order by id');
    expect(rows.map((row) => row.id)).toEqual([1, 2, 3]);
  });

  it('gives clients that see the outage and reconnect after it', async () => {
    const pg = await cluster();
    const sql = pg.connect({ max: 1 });
    expect(await sql`select 1 as one`).toEqual([{ one: 1 }]);
    await pg.stop('fast');
    await expect(sql`select 1`).rejects.toThrow();
    await pg.start();
    expect(await sql`select 2 as two`).toEqual([{ two: 2 }]);
  });

  it('is destroyed once: the server stops and its folder goes', async () => {
    const pg = await startThrowawayCluster();
    await pg.destroy();
    expect(await listening(pg.port)).toBe(false);
    await expect(access(pg.folder)).rejects.toThrow(/ENOENT/);
    await pg.destroy();
    await expect(pg.start()).rejects.toThrow(/destroyed/);
  });

  it('names the missing binary when the server tools are not on PATH', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      await expect(startThrowawayCluster()).rejects.toThrow(/initdb is not on PATH/);
    } finally {
      process.env.PATH = path;
    }
  });
});
