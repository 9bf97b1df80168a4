/**
 * A small HTTP/1.1 keep-alive client for load generation: one TCP connection, one request
 * in flight, requests written as prepared bytes. It costs far less CPU per request than
 * `fetch`, so on a small machine the load generator takes little from the server it
 * measures. It understands just enough of a response to find its end: the status line,
 * `Content-Length`, chunked transfer coding and `Connection: close`.
 */
const CRLF_CRLF = [13, 10, 13, 10];
const decoder = new TextDecoder();

export class Http1Connection {
  /** False once the server said `Connection: close`: open a new connection to go on. */
  reusable = true;
  #conn: Deno.TcpConn;
  #buffer = new Uint8Array(64 * 1024);
  #start = 0;
  #end = 0;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  static async open(hostname: string, port: number): Promise<Http1Connection> {
    const conn = await Deno.connect({ hostname, port });
    conn.setNoDelay(true);
    return new Http1Connection(conn);
  }

  /** Sends one prepared request and resolves to the response's status code. */
  async send(request: Uint8Array): Promise<number> {
    let written = 0;
    while (written < request.length) {
      written += await this.#conn.write(request.subarray(written));
    }
    const headerEnd = await this.#find(CRLF_CRLF);
    const head = decoder.decode(this.#buffer.subarray(this.#start, headerEnd));
    this.#start = headerEnd + 4;
    const status = Number(head.slice(9, 12));
    if (/\r\nconnection:\s*close/i.test(head)) this.reusable = false;
    const lengthMatch = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (lengthMatch) {
      await this.#skip(Number(lengthMatch[1]));
    } else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
      for (;;) {
        const lineEnd = await this.#find([13, 10]);
        const size = parseInt(decoder.decode(this.#buffer.subarray(this.#start, lineEnd)), 16);
        this.#start = lineEnd + 2;
        await this.#skip(size + 2);
        if (size === 0) break;
      }
    } else if (status !== 204 && status !== 304) {
      throw new Error(`response without a length: ${head.split('\r\n')[0]}`);
    }
    return status;
  }

  close(): void {
    try {
      this.#conn.close();
    } catch {
      // Already closed by the server.
    }
  }

  /** Index of `pattern` in the unread bytes, reading more until it is there. */
  async #find(pattern: number[]): Promise<number> {
    let from = this.#start;
    for (;;) {
      const last = this.#end - pattern.length;
      for (let i = from; i <= last; i += 1) {
        let match = true;
        for (let j = 0; j < pattern.length; j += 1) {
          if (this.#buffer[i + j] !== pattern[j]) {
            match = false;
            break;
          }
        }
        if (match) return i;
      }
      from = Math.max(this.#start, last + 1);
      const before = this.#start;
      await this.#fill();
      from -= before - this.#start;
    }
  }

  /** Consumes `count` bytes of body. */
  async #skip(count: number): Promise<void> {
    let left = count;
    for (;;) {
      const available = Math.min(left, this.#end - this.#start);
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
    if (read === null) throw new Error('connection closed by the server');
    this.#end += read;
  }
}

const encoder = new TextEncoder();

/** The bytes of a POST request with a body and extra headers. */
export function postRequest(
  host: string,
  path: string,
  headers: Readonly<Record<string, string>>,
  body: string,
): Uint8Array {
  const bodyBytes = encoder.encode(body);
  let head = `POST ${path} HTTP/1.1\r\nhost: ${host}\r\ncontent-length: ${bodyBytes.length}\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  const headBytes = encoder.encode(`${head}\r\n`);
  const request = new Uint8Array(headBytes.length + bodyBytes.length);
  request.set(headBytes);
  request.set(bodyBytes, headBytes.length);
  return request;
}
