import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';

/**
 * A local stand-in for Upstash's Redis REST API, in front of a real Redis, so the
 * `@upstash/*` clients run unmodified in tests. It speaks the part of the protocol those
 * clients use (https://upstash.com/docs/redis/features/restapi):
 *
 * - `POST /` with one command as a JSON array (`["SET","k","v"]`) → `{"result": ...}`,
 *   or status 400 with `{"error": "..."}` when Redis answers with an error;
 * - `POST /pipeline` and `POST /multi-exec` with an array of commands → an array of
 *   `{"result"}` / `{"error"}`, in order; `/multi-exec` runs them in MULTI/EXEC;
 * - `Authorization: Bearer <token>` on every request, 401 otherwise;
 * - `Upstash-Encoding: base64` (which `@upstash/redis` sends by default) → every string in a
 *   result is base64-encoded; numbers, nulls and errors are not.
 */

export interface UpstashRestServerOptions {
  /** The bearer token clients must present. */
  token: string;
  /** Port of the Redis behind the server; 6379 by default. */
  redisPort?: number;
  /** Host of that Redis; 127.0.0.1 by default. */
  redisHost?: string;
}

export interface UpstashRestServer {
  /** Base URL to pass to `new Redis({ url })`, e.g. `http://127.0.0.1:40123`. */
  url: string;
  close(): Promise<void>;
}

/**
 * Starts the REST server on a free port of 127.0.0.1.
 *
 * @example
 * ```ts
 * const server = await startUpstashRestServer({ token: 'test-token' });
 * const redis = new Redis({ url: server.url, token: 'test-token' });
 * await redis.set('greeting', 'hello');
 * await server.close();
 * ```
 */
export async function startUpstashRestServer(
  options: UpstashRestServerOptions,
): Promise<UpstashRestServer> {
  const redis = new RedisConnection(options.redisHost ?? '127.0.0.1', options.redisPort ?? 6379);
  const scripts = new ScriptAliases();
  const expectedAuthorization = `Bearer ${options.token}`;

  const server = createServer((request, response) => {
    handleRequest(request, response).catch((error: unknown) => {
      sendJson(response, 500, { error: error instanceof Error ? error.message : String(error) });
    });
  });

  async function handleRequest(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (request.headers.authorization !== expectedAuthorization) {
      request.resume();
      return sendJson(response, 401, { error: 'Unauthorized' });
    }
    const route = request.method === 'POST' ? request.url : undefined;
    if (route !== '/' && route !== '/pipeline' && route !== '/multi-exec') {
      request.resume();
      return sendJson(response, 404, { error: `no route for ${request.method} ${request.url}` });
    }
    const base64 = String(request.headers['upstash-encoding']).toLowerCase() === 'base64';
    const encode = (value: RespValue) => toJson(value, base64);

    let body: unknown;
    try {
      body = JSON.parse(await readBody(request));
    } catch {
      return sendJson(response, 400, { error: 'ERR body is not valid JSON' });
    }

    if (route === '/') {
      const command = parseCommand(body);
      if (typeof command === 'string') return sendJson(response, 400, { error: command });
      const [reply] = await runScripted(redis, scripts, [command]);
      if (reply instanceof RespError) return sendJson(response, 400, { error: reply.message });
      return sendJson(response, 200, { result: encode(reply ?? null) });
    }

    const commands = Array.isArray(body) && body.length > 0 ? body.map(parseCommand) : [];
    const invalid = commands.find((command) => typeof command === 'string');
    if (commands.length === 0 || invalid !== undefined) {
      return sendJson(response, 400, {
        error: invalid ?? 'ERR body must be a non-empty array of commands',
      });
    }
    const valid = commands as string[][];

    if (route === '/pipeline') {
      const replies = await runScripted(redis, scripts, valid);
      return sendJson(response, 200, replies.map((reply) => toResultOrError(reply, encode)));
    }

    // MULTI, the commands and EXEC go out in one write on the shared connection, so no other
    // request's command can land inside the transaction.
    const replies = await runScripted(redis, scripts, [['MULTI'], ...valid, ['EXEC']]);
    const queueError = replies.slice(0, -1).find((reply) => reply instanceof RespError);
    const executed = replies.at(-1);
    if (executed instanceof RespError || !Array.isArray(executed)) {
      const reason = executed instanceof RespError ? executed.message : 'EXECABORT';
      const detail = queueError instanceof RespError ? `: ${queueError.message}` : '';
      return sendJson(response, 400, { error: `${reason}${detail}` });
    }
    return sendJson(response, 200, executed.map((reply) => toResultOrError(reply, encode)));
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');

  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        // The client keeps connections alive; close them or `close` would wait for them.
        server.closeAllConnections();
        server.close(() => resolve());
        redis.close();
      }),
  };
}

// ---------------------------------------------------------------------------------------
// Lua scripts

/**
 * Upstash accepts the `allow-key-locking` shebang flag, which `@upstash/ratelimit` 2.x puts
 * on every script; Redis 7 rejects unknown flags ("Unexpected flag in script shebang"). The
 * server removes the flag before Redis sees the script and remembers which Redis SHA1 stands
 * for the client's SHA1 (of the script as sent), so EVALSHA with the client's hash works.
 */
const UPSTASH_ONLY_SCRIPT_FLAGS = new Set(['allow-key-locking']);

class ScriptAliases {
  readonly #redisShaByClientSha = new Map<string, string>();

  /** Rewrites one command for Redis, and says how to rewrite its reply back. */
  translate(command: string[]): { command: string[]; mapReply?: (reply: RespValue) => RespValue } {
    const name = command[0]?.toUpperCase();
    if ((name === 'EVAL' || name === 'EVAL_RO') && command[1] !== undefined) {
      return { command: [command[0]!, this.#learn(command[1]), ...command.slice(2)] };
    }
    if ((name === 'EVALSHA' || name === 'EVALSHA_RO') && command[1] !== undefined) {
      const sha = command[1].toLowerCase();
      const redisSha = this.#redisShaByClientSha.get(sha) ?? sha;
      return { command: [command[0]!, redisSha, ...command.slice(2)] };
    }
    if (name === 'SCRIPT' && command[1]?.toUpperCase() === 'LOAD' && command[2] !== undefined) {
      const clientSha = sha1(command[2]);
      const loaded = [command[0]!, command[1], this.#learn(command[2])];
      return {
        command: loaded,
        mapReply: (reply) => (reply instanceof RespError ? reply : clientSha),
      };
    }
    return { command };
  }

  #learn(script: string): string {
    const forRedis = withoutUpstashOnlyFlags(script);
    if (forRedis !== script) this.#redisShaByClientSha.set(sha1(script), sha1(forRedis));
    return forRedis;
  }
}

function withoutUpstashOnlyFlags(script: string): string {
  const newline = script.indexOf('\n');
  const firstLine = newline === -1 ? script : script.slice(0, newline);
  if (!firstLine.startsWith('#!')) return script;
  const shebang = firstLine
    .split(' ')
    .map((word) => {
      if (!word.startsWith('flags=')) return word;
      const flags = word.slice('flags='.length).split(',');
      const kept = flags.filter((flag) => !UPSTASH_ONLY_SCRIPT_FLAGS.has(flag));
      return kept.length > 0 ? `flags=${kept.join(',')}` : '';
    })
    .filter((word) => word !== '')
    .join(' ');
  return newline === -1 ? shebang : shebang + script.slice(newline);
}

function sha1(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}

async function runScripted(
  redis: RedisConnection,
  scripts: ScriptAliases,
  commands: string[][],
): Promise<RespValue[]> {
  const translated = commands.map((command) => scripts.translate(command));
  const replies = await redis.send(translated.map((t) => t.command));
  return replies.map((reply, i) => translated[i]?.mapReply?.(reply) ?? reply);
}

// ---------------------------------------------------------------------------------------
// HTTP and JSON

/** Upstash clients send numbers and booleans unquoted; Redis wants every argument as a string. */
function parseCommand(value: unknown): string[] | string {
  if (!Array.isArray(value) || value.length === 0) {
    return 'ERR a command must be a non-empty JSON array';
  }
  const args: string[] = [];
  for (const arg of value) {
    if (typeof arg === 'string') args.push(arg);
    else if (typeof arg === 'number' || typeof arg === 'boolean') args.push(String(arg));
    else return `ERR unsupported argument ${JSON.stringify(arg)}`;
  }
  return args;
}

function toResultOrError(reply: RespValue, encode: (value: RespValue) => unknown): object {
  return reply instanceof RespError ? { error: reply.message } : { result: encode(reply) };
}

function toJson(value: RespValue, base64: boolean): unknown {
  if (value === null || typeof value === 'number') return value;
  if (value instanceof RespError) return value.message;
  if (Array.isArray(value)) return value.map((item) => toJson(item, base64));
  const bytes = typeof value === 'string' ? Buffer.from(value) : value;
  return base64 ? bytes.toString('base64') : bytes.toString('utf8');
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

// ---------------------------------------------------------------------------------------
// RESP2 over one TCP connection (https://redis.io/docs/latest/develop/reference/protocol-spec/)

class RespError {
  constructor(readonly message: string) {}
}

/** Simple string → string, bulk string → Buffer, integer → number, nil → null. */
type RespValue = string | Buffer | number | null | RespError | RespValue[];

interface PendingBatch {
  expected: number;
  replies: RespValue[];
  resolve(replies: RespValue[]): void;
  reject(error: Error): void;
}

/**
 * Redis answers the commands of one connection in the order they were sent, so a FIFO of
 * batches is enough to route replies back; each batch is written with a single `write`.
 */
class RedisConnection {
  #socket: Socket | undefined;
  #buffer: Buffer = Buffer.alloc(0);
  readonly #pending: PendingBatch[] = [];

  constructor(readonly host: string, readonly port: number) {}

  send(commands: string[][]): Promise<RespValue[]> {
    const socket = this.#connected();
    return new Promise((resolve, reject) => {
      this.#pending.push({ expected: commands.length, replies: [], resolve, reject });
      socket.write(Buffer.concat(commands.map(encodeCommand)));
    });
  }

  close(): void {
    this.#socket?.end();
    this.#socket = undefined;
  }

  #connected(): Socket {
    if (this.#socket !== undefined) return this.#socket;
    const socket = connect(this.port, this.host);
    socket.on('data', (chunk: Buffer) => {
      try {
        this.#receive(chunk);
      } catch (error) {
        // A reply we cannot parse leaves the stream out of step: drop the connection.
        socket.destroy(error as Error);
      }
    });
    const fail = (error: Error) => {
      if (this.#socket === socket) this.#socket = undefined;
      this.#buffer = Buffer.alloc(0);
      for (const batch of this.#pending.splice(0)) batch.reject(error);
    };
    socket.on('error', fail);
    socket.on(
      'close',
      () => fail(new Error(`connection to Redis ${this.host}:${this.port} closed`)),
    );
    this.#socket = socket;
    return socket;
  }

  #receive(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    let offset = 0;
    for (;;) {
      const parsed = parseReply(this.#buffer, offset);
      if (parsed === undefined) break;
      offset = parsed.next;
      const batch = this.#pending[0];
      if (batch === undefined) continue;
      batch.replies.push(parsed.value);
      if (batch.replies.length === batch.expected) {
        this.#pending.shift();
        batch.resolve(batch.replies);
      }
    }
    this.#buffer = this.#buffer.subarray(offset);
  }
}

function encodeCommand(args: string[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = Buffer.from(arg, 'utf8');
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** Parses one reply starting at `offset`; `undefined` when the buffer holds only part of it. */
function parseReply(
  buffer: Buffer,
  offset: number,
): { value: RespValue; next: number } | undefined {
  const lineEnd = buffer.indexOf('\r\n', offset);
  if (lineEnd === -1) return undefined;
  const type = String.fromCharCode(buffer[offset]!);
  const line = buffer.toString('utf8', offset + 1, lineEnd);
  const afterLine = lineEnd + 2;
  switch (type) {
    case '+':
      return { value: line, next: afterLine };
    case '-':
      return { value: new RespError(line), next: afterLine };
    case ':':
      return { value: Number(line), next: afterLine };
    case '$': {
      const length = Number(line);
      if (length < 0) return { value: null, next: afterLine };
      if (buffer.length < afterLine + length + 2) return undefined;
      return {
        value: buffer.subarray(afterLine, afterLine + length),
        next: afterLine + length + 2,
      };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, next: afterLine };
      const items: RespValue[] = [];
      let next = afterLine;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buffer, next);
        if (item === undefined) return undefined;
        items.push(item.value);
        next = item.next;
      }
      return { value: items, next };
    }
    default:
      throw new Error(`unexpected RESP type byte ${JSON.stringify(type)}`);
  }
}
