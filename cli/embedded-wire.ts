/**
 * The Postgres wire protocol in front of PGlite, for several client connections at once.
 *
 * PGlite is one session. Connections share it safely only if a connection's messages run
 * together: an extended-protocol exchange (Parse, Bind, Describe, Execute ... Sync) keeps
 * its unnamed statement and portal in the session, and a transaction keeps its snapshot
 * and locks. So each connection's messages are grouped up to the message the client waits
 * on (Sync, a simple Query, Flush), a group runs alone, and while a connection holds a
 * transaction open (or stopped at a Flush mid-exchange) only its groups run. Any other
 * interleaving hands one connection's statement to another's Bind ("bind message supplies
 * 3 parameters, but prepared statement "" requires 0").
 *
 * A connection that keeps a transaction open without sending anything for
 * `ownerIdleMs` is closed and its transaction rolled back, so an abandoned client cannot
 * stop every other one (PGlite runs no idle_in_transaction_session_timeout of its own).
 */
import { createServer, type Server, type Socket } from 'node:net';

/** What the multiplexer needs of PGlite (its public API plus `isInTransaction`). */
export interface WireSession {
  runExclusive<T>(fn: () => Promise<T>): Promise<T>;
  execProtocolRawStream(
    message: Uint8Array,
    options: { syncToFs?: boolean; onRawData: (data: Uint8Array) => void },
  ): Promise<void>;
  exec(sql: string): Promise<unknown>;
  isInTransaction(): boolean;
}

export interface WireServerOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly maxConnections: number;
  /** How long a connection may hold the session in a transaction without a message. */
  readonly ownerIdleMs?: number;
}

export interface WireServer {
  readonly port: number;
  /** Closes every connection (rolling back an open transaction) and the listener. */
  stop(): Promise<void>;
  /** Connections open now and groups waiting for the session. */
  stats(): { connections: number; waiting: number };
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const PROTOCOL_3 = 196608;
/** A message longer than this is not a client of ours: the connection is closed. */
const MAX_MESSAGE_BYTES = 256 * 1024 * 1024;
/** Messages a client waits on: a group ends with one of them. */
const GROUP_ENDS = new Set(['S', 'Q', 'H', 'X', 'c', 'f']);

interface Connection {
  readonly socket: Socket;
  buffer: Buffer;
  started: boolean;
  closed: boolean;
  /** Messages since the last group ended. */
  pending: Uint8Array[];
  lastActivity: number;
}

interface Group {
  readonly connection: Connection;
  readonly messages: Uint8Array[];
  /** The group's last message type ('' for the startup message). */
  readonly last: string;
}

/** Serves `session` over the wire protocol; resolves once it listens. */
export async function serveWire(
  session: WireSession,
  options: WireServerOptions,
): Promise<WireServer> {
  const ownerIdleMs = options.ownerIdleMs ?? 120_000;
  const connections = new Set<Connection>();
  let queue: Group[] = [];
  /** The connection whose transaction (or unfinished exchange) holds the session. */
  let owner: Connection | null = null;
  let stopping = false;
  /** Work on the session runs one piece at a time, in this chain: pumps and rollbacks. */
  let turn: Promise<void> = Promise.resolve();
  let running = false;
  let pumpQueued = false;

  const exclusive = (work: () => Promise<void>): Promise<void> => {
    const next = turn.then(async () => {
      running = true;
      try {
        await work();
      } finally {
        running = false;
      }
    });
    turn = next.catch(() => undefined);
    return next;
  };

  /** Runs waiting groups (only the owner's while a connection holds the session). */
  const pump = () => {
    if (pumpQueued) return;
    pumpQueued = true;
    void exclusive(async () => {
      pumpQueued = false;
      for (;;) {
        const index = owner === null ? 0 : queue.findIndex((g) => g.connection === owner);
        if (index === -1 || queue.length === 0) break;
        const [group] = queue.splice(index, 1);
        await runGroup(group!);
      }
    });
  };

  const runGroup = async (group: Group) => {
    const { connection, messages } = group;
    if (connection.closed) return;
    try {
      await runMessages(connection, messages);
    } catch {
      // PGlite itself failed (not an SQL error, which it answers as ErrorResponse).
      owner = null;
      void close(connection);
      return;
    }
    const holds = session.isInTransaction() || group.last === 'H';
    owner = holds && !connection.closed ? connection : null;
    if (holds && connection.closed && session.isInTransaction()) {
      // It went away while its group ran (this runs in the chain: no other group starts).
      await session.exec('ROLLBACK').catch(() => undefined);
    }
  };

  const runMessages = async (connection: Connection, messages: Uint8Array[]) => {
    await session.runExclusive(async () => {
      for (let i = 0; i < messages.length; i++) {
        await session.execProtocolRawStream(messages[i]!, {
          // Flushing to disk once per group is enough: the client learns of nothing before.
          syncToFs: i === messages.length - 1,
          onRawData: (data) => {
            if (data.length > 0 && !connection.closed) connection.socket.write(data);
          },
        });
      }
    });
  };

  /**
   * Ends an abandoned transaction, in the chain: no group runs meanwhile. Groups queued
   * before it may have let another connection open a transaction of its own: that one
   * owns the session now and is left alone.
   */
  const rollback = () =>
    exclusive(async () => {
      // exec takes PGlite's own lock: not inside runExclusive, which holds it.
      if (owner === null && session.isInTransaction()) await session.exec('ROLLBACK');
    });

  const close = async (connection: Connection) => {
    if (connection.closed) return;
    connection.closed = true;
    connections.delete(connection);
    queue = queue.filter((g) => g.connection !== connection);
    connection.socket.destroy();
    if (owner === connection) {
      owner = null;
      await rollback().catch(() => undefined);
    }
    pump();
  };

  const enqueue = (connection: Connection, last: string) => {
    queue.push({ connection, messages: connection.pending, last });
    connection.pending = [];
    pump();
  };

  const onData = (connection: Connection, chunk: Buffer) => {
    connection.lastActivity = Date.now();
    connection.buffer = connection.buffer.length === 0
      ? chunk
      : Buffer.concat([connection.buffer, chunk]);
    for (;;) {
      const buffer = connection.buffer;
      if (!connection.started) {
        // Untyped start-up packets: int32 length, int32 code.
        if (buffer.length < 8) return;
        const length = buffer.readInt32BE(0);
        if (length < 8 || length > 10_000) return void close(connection);
        if (buffer.length < length) return;
        const code = buffer.readInt32BE(4);
        const packet = buffer.subarray(0, length);
        connection.buffer = buffer.subarray(length);
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
          connection.socket.write('N');
        } else if (code === CANCEL_REQUEST) {
          // PGlite cannot cancel a running statement; the client's own deadline stands.
          return void close(connection);
        } else if (code === PROTOCOL_3) {
          connection.started = true;
          connection.pending.push(new Uint8Array(packet));
          enqueue(connection, '');
        } else {
          return void close(connection);
        }
        continue;
      }
      if (buffer.length < 5) return;
      const length = buffer.readInt32BE(1);
      if (length < 4 || length > MAX_MESSAGE_BYTES) return void close(connection);
      if (buffer.length < length + 1) return;
      const type = String.fromCharCode(buffer[0]!);
      // A copy: the group may run after this buffer is reused.
      connection.pending.push(new Uint8Array(buffer.subarray(0, length + 1)));
      connection.buffer = buffer.subarray(length + 1);
      if (type === 'X') {
        connection.pending = [];
        return void close(connection);
      }
      if (GROUP_ENDS.has(type)) enqueue(connection, type);
    }
  };

  const server: Server = createServer((socket) => {
    if (stopping || connections.size >= options.maxConnections) {
      socket.on('error', () => undefined);
      socket.end(tooManyConnections(), () => socket.destroy());
      return;
    }
    socket.setNoDelay(true);
    const connection: Connection = {
      socket,
      buffer: Buffer.alloc(0),
      started: false,
      closed: false,
      pending: [],
      lastActivity: Date.now(),
    };
    connections.add(connection);
    socket.on('data', (chunk: Buffer) => onData(connection, chunk));
    socket.on('error', () => void close(connection));
    socket.on('close', () => void close(connection));
  });

  const idleCheck = setInterval(() => {
    if (owner !== null && !running && Date.now() - owner.lastActivity > ownerIdleMs) {
      void close(owner);
    }
  }, Math.min(1_000, ownerIdleMs));
  (idleCheck as { unref?: () => void }).unref?.();

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;

  return {
    port,
    stats: () => ({ connections: connections.size, waiting: queue.length }),
    async stop() {
      stopping = true;
      clearInterval(idleCheck);
      const closing = new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...connections].map((c) => close(c)));
      await rollback().catch(() => undefined);
      await closing;
    },
  };
}

/** An ErrorResponse (SQLSTATE 53300) for a connection over the limit. */
function tooManyConnections(): Buffer {
  const fields = Buffer.concat([
    field('S', 'FATAL'),
    field('V', 'FATAL'),
    field('C', '53300'),
    field('M', 'sorry, too many clients already (embedded database)'),
    Buffer.from([0]),
  ]);
  const header = Buffer.alloc(5);
  header.write('E', 0);
  header.writeInt32BE(fields.length + 4, 1);
  return Buffer.concat([header, fields]);
}

function field(code: string, value: string): Buffer {
  return Buffer.concat([Buffer.from(code), Buffer.from(value, 'utf8'), Buffer.from([0])]);
}
