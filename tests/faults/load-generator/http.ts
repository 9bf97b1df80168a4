/**
 * An HTTP/1.1 keep-alive connection for the fault suite's load generator (Deno). Unlike
 * bench/lib/http1.ts, which writes a whole request and then reads only the status, it reads
 * the answer while it writes, so a server that sheds a big body before reading it (and
 * closes) is seen answering 503/413 rather than as a broken pipe, and it returns the headers
 * and the small body a fault test asserts on (`Retry-After`, `{"status":"accepted"}`).
 */

/** The server closed the connection before a whole answer arrived. */
export class ConnectionClosedError extends Error {
  override name = 'ConnectionClosed';
}

export interface Answer {
  readonly status: number;
  readonly retryAfter: string | null;
  /** The body as text when it is at most `MAX_KEPT_BODY` bytes, else ''. */
  readonly body: string;
}

interface BodyBytes {
  readonly parts: Uint8Array[];
  bytes: number;
}

const CRLF = [13, 10];
const CRLF_CRLF = [13, 10, 13, 10];
const CHUNK_BYTES = 64 * 1024;
const MAX_KEPT_BODY = 16 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The bytes of a request head: `bodyLength` null declares a chunked body. */
export function requestHead(
  host: string,
  method: string,
  path: string,
  headers: Readonly<Record<string, string>>,
  bodyLength: number | null,
): Uint8Array {
  let head = `${method} ${path} HTTP/1.1\r\nhost: ${host}\r\n`;
  head += bodyLength === null
    ? 'transfer-encoding: chunked\r\n'
    : `content-length: ${bodyLength}\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  return encoder.encode(`${head}\r\n`);
}

export class HttpConnection {
  /** False once the server asked to close, or a request did not end cleanly. */
  reusable = true;
  #conn: Deno.TcpConn;
  #closed = false;
  #buffer = new Uint8Array(16 * 1024);
  #start = 0;
  #end = 0;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  static async open(hostname: string, port: number): Promise<HttpConnection> {
    const conn = await Deno.connect({ hostname, port });
    conn.setNoDelay(true);
    return new HttpConnection(conn);
  }

  /**
   * Sends `head` and `body` (as one chunked body when `chunked`) while reading the answer;
   * resolves with it once complete. An answer that comes before the body is all written
   * ends the writing and the connection (the server will not read the rest).
   */
  async exchange(head: Uint8Array, body: Uint8Array, chunked: boolean): Promise<Answer> {
    let written = false;
    const writing = this.#write(head, body, chunked).then(
      () => (written = true),
      () => {}, // the reader sees the same fault, or an early answer made it moot
    );
    let answer: Answer;
    try {
      answer = await this.#readAnswer();
    } catch (error) {
      this.close();
      await writing;
      throw error;
    }
    if (!written) this.close();
    return answer;
  }

  close(): void {
    this.reusable = false;
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  async #write(head: Uint8Array, body: Uint8Array, chunked: boolean): Promise<void> {
    if (!chunked && body.length === 0) return await this.#writeAll(head);
    if (!chunked && head.length + body.length <= CHUNK_BYTES) {
      // Small requests go out in one write, as a real client's would.
      const request = new Uint8Array(head.length + body.length);
      request.set(head);
      request.set(body, head.length);
      return await this.#writeAll(request);
    }
    await this.#writeAll(head);
    for (let at = 0; at < body.length && !this.#closed; at += CHUNK_BYTES) {
      const chunk = body.subarray(at, Math.min(body.length, at + CHUNK_BYTES));
      if (chunked) await this.#writeAll(encoder.encode(`${chunk.length.toString(16)}\r\n`));
      await this.#writeAll(chunk);
      if (chunked) await this.#writeAll(encoder.encode('\r\n'));
    }
    if (chunked) await this.#writeAll(encoder.encode('0\r\n\r\n'));
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    for (let at = 0; at < bytes.length;) at += await this.#conn.write(bytes.subarray(at));
  }

  async #readAnswer(): Promise<Answer> {
    const headEnd = await this.#find(CRLF_CRLF);
    const lines = decoder.decode(this.#buffer.subarray(this.#start, headEnd)).split('\r\n');
    this.#start = headEnd + 4;
    const status = Number(lines[0]!.slice(9, 12));
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    if (headers.get('connection')?.toLowerCase() === 'close') this.reusable = false;
    const body: BodyBytes = { parts: [], bytes: 0 };
    const length = headers.get('content-length');
    if (length !== undefined) {
      await this.#take(Number(length), body);
    } else if (headers.get('transfer-encoding')?.toLowerCase() === 'chunked') {
      for (;;) {
        const lineEnd = await this.#find(CRLF);
        const size = parseInt(decoder.decode(this.#buffer.subarray(this.#start, lineEnd)), 16);
        this.#start = lineEnd + 2;
        await this.#take(size, body);
        await this.#take(2, { parts: [], bytes: 0 });
        if (size === 0) break;
      }
    } else if (status !== 204 && status !== 304) {
      // No length: the body runs to the end of the connection.
      this.reusable = false;
      await this.#take(Infinity, body).catch((error) => {
        if (!(error instanceof ConnectionClosedError)) throw error;
      });
    }
    const text = body.bytes > MAX_KEPT_BODY
      ? ''
      : body.parts.map((part) => decoder.decode(part, { stream: true })).join('') +
        decoder.decode();
    return { status, retryAfter: headers.get('retry-after') ?? null, body: text };
  }

  /** Index of `pattern` in the unread bytes, reading more until it is there. */
  async #find(pattern: readonly number[]): Promise<number> {
    let from = this.#start;
    for (;;) {
      const last = this.#end - pattern.length;
      for (let i = this.#buffer.indexOf(pattern[0]!, from); i !== -1 && i <= last;) {
        let j = 1;
        while (j < pattern.length && this.#buffer[i + j] === pattern[j]) j += 1;
        if (j === pattern.length) return i;
        i = this.#buffer.indexOf(pattern[0]!, i + 1);
      }
      const shift = this.#start;
      from = Math.max(this.#start, this.#end - pattern.length + 1);
      await this.#fill();
      from -= shift - this.#start;
    }
  }

  /** Consumes `count` bytes into `body`, which keeps copies only while it stays small. */
  async #take(count: number, body: BodyBytes): Promise<void> {
    let left = count;
    for (;;) {
      const available = Math.min(left, this.#end - this.#start);
      body.bytes += available;
      if (body.bytes <= MAX_KEPT_BODY) {
        body.parts.push(this.#buffer.slice(this.#start, this.#start + available));
      }
      this.#start += available;
      left -= available;
      if (left === 0) return;
      await this.#fill();
    }
  }

  /** Reads more bytes, compacting the buffer first; rejects on a closed connection. */
  async #fill(): Promise<void> {
    if (this.#start > 0) {
      this.#buffer.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    if (this.#end === this.#buffer.length) {
      const bigger = new Uint8Array(this.#buffer.length * 2);
      bigger.set(this.#buffer);
      this.#buffer = bigger;
    }
    const read = await this.#conn.read(this.#buffer.subarray(this.#end));
    if (read === null) throw new ConnectionClosedError('connection closed before a whole answer');
    this.#end += read;
  }
}
