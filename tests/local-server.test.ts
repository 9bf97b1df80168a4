/**
 * Black-box: `gatehouse start` (what `npm start` runs) under Deno, on the embedded
 * database or on DATABASE_URL, answering over real HTTP, and stopping cleanly on SIGTERM.
 */
import { stat } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDatabase } from './support/database.ts';
import { type LocalServer, startLocalServer, STARTUP_TIMEOUT_MS } from './support/local-server.ts';
import { signWhatsApp, whatsappNotification } from './support/webhooks/index.ts';
import { freePort, type GatehouseProcess, runGatehouse, waitForStatus } from './support/process.ts';

let server: LocalServer;
let dataDir: string;
let database: TestDatabase | undefined;
let gatehouse: GatehouseProcess;
let base: string;
/** Holds one keep-alive connection open from its test through the SIGTERM test. */
const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });

beforeAll(async () => {
  server = await startLocalServer();
  ({ dataDir, database, gatehouse, base } = server);
}, 120_000);

afterAll(async () => {
  keepAlive.destroy();
  await server?.stop();
});

/** POSTs through `agent`; resolves to the status, headers and whether the socket was reused. */
function post(url: string, body: string, headers: Record<string, string>, agent: Agent) {
  return new Promise<{ status: number; connection: string | undefined; reused: boolean }>(
    (resolve, reject) => {
      const req = httpRequest(url, { method: 'POST', headers, agent }, (res) => {
        res.resume();
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            connection: res.headers.connection,
            reused: req.reusedSocket,
          }));
      });
      req.on('error', reject);
      req.end(body);
    },
  );
}

describe('gatehouse start', () => {
  it('prints its URLs and the database it uses', () => {
    const output = gatehouse.output();
    expect(output).toContain(`listening on ${base}`);
    expect(output).toContain(`${base}/functions/v1/health`);
    // The URLs to register, one per provider; never the function's bare base (a 404).
    expect(output).toMatch(new RegExp(`whatsapp +${base}/functions/v1/webhooks/whatsapp\\b`));
    expect(output).toMatch(new RegExp(`stripe +${base}/functions/v1/webhooks/stripe\\b`));
    expect(output).toContain(`${base}/functions/v1/webhooks/ussd/<USSD_PATH_TOKEN>`);
    expect(output).not.toMatch(new RegExp(`${base}/functions/v1/webhooks\\s`));
    if (database) {
      expect(output).toMatch(/Database {3}postgres:\/\/postgres@127\.0\.0\.1:5432\/gh_test_/);
    } else {
      expect(output).toContain('(embedded PGlite, data in');
    }
  });

  it('prints generated development secrets once, with an example', async () => {
    expect(gatehouse.output()).toMatch(/GATEHOUSE_SERVICE_KEY=ghsk_dev_\S{43}/);
    expect(gatehouse.output()).toContain(`curl ${base}/functions/v1/health`);
    expect((await stat(join(dataDir, 'dev-secrets.json'))).mode & 0o777).toBe(0o600);
  });

  it('serves the health function under /functions/v1 with request ids', async () => {
    const res = await fetch(`${base}/functions/v1/health`, {
      headers: { 'X-Request-Id': 'smoke-test-1' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('smoke-test-1');
    const body = await res.json();
    expect(body.status).toBe('ok');
    expect(body.checks.database.status).toBe('ok');
  });

  it('takes a signed WhatsApp delivery with the printed development secrets', async () => {
    const secret = /WHATSAPP_APP_SECRET=(\S+)/.exec(gatehouse.output())?.[1];
    const token = /WHATSAPP_VERIFY_TOKEN=(\S+)/.exec(gatehouse.output())?.[1];
    expect(secret).toBeDefined();
    const handshake = await fetch(
      `${base}/functions/v1/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=${token}&hub.challenge=77`,
    );
    expect(await handshake.text()).toBe('77');
    const body = whatsappNotification([{ id: 'wamid.smoke', from: '1555', text: 'hi' }]);
    const res = await fetch(`${base}/functions/v1/webhooks/whatsapp`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...signWhatsApp(body, secret!) },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'accepted' });
  });

  it('keeps the connection alive across webhook deliveries of a few kilobytes', async () => {
    const secret = /WHATSAPP_APP_SECRET=(\S+)/.exec(gatehouse.output())![1]!;
    const answers = [];
    for (const n of [1, 2, 3]) {
      // A realistic delivery, well over the ~400-byte bodies Deno 2.9.5 closed after.
      const body = whatsappNotification([
        { id: `wamid.keepalive.${n}`, from: '1555', text: 'x'.repeat(2_000) },
      ]);
      answers.push(
        await post(
          `${base}/functions/v1/webhooks/whatsapp`,
          body,
          { 'content-type': 'application/json', ...signWhatsApp(body, secret) },
          keepAlive,
        ),
      );
    }
    // On failure, the server's log says why.
    expect(answers.map((a) => a.status), gatehouse.output()).toEqual([200, 200, 200]);
    expect(answers.map((a) => a.connection)).not.toContain('close');
    expect(answers.map((a) => a.reused)).toEqual([false, true, true]);
  });

  it('keeps it alive after a refusal that came before the body was read, unless the body is big', async () => {
    const secret = /WHATSAPP_APP_SECRET=(\S+)/.exec(gatehouse.output())![1]!;
    const url = `${base}/functions/v1/webhooks/whatsapp`;
    const signed = (n: number) => {
      const body = whatsappNotification([{ id: `wamid.refusal.${n}`, from: '1555', text: 'hi' }]);
      return post(
        url,
        body,
        { 'content-type': 'application/json', ...signWhatsApp(body, secret) },
        keepAlive,
      );
    };
    // No signature: 401 before the body is read.
    const small = whatsappNotification([{
      id: 'wamid.unsigned',
      from: '1555',
      text: 'x'.repeat(2_000),
    }]);
    const big = 'y'.repeat(70 * 1024); // past the 64 KiB a refusal still reads
    const answers = [
      await post(url, small, { 'content-type': 'application/json' }, keepAlive),
      await signed(1),
      await post(url, big, { 'content-type': 'application/json' }, keepAlive),
      await signed(2),
    ];
    expect(answers.map((a) => a.status), gatehouse.output()).toEqual([401, 200, 401, 200]);
    // The small refused body was read and the connection kept; the big one was not read,
    // and the answer said the connection closes, so the next delivery opened a new one.
    expect(answers.map((a) => a.reused)).toEqual([true, true, true, false]);
    // Deno's server says `close` for an untouched body too: the list may repeat the token.
    const tokens = answers.map((a) =>
      a.connection === undefined
        ? undefined
        : [...new Set(a.connection.split(',').map((token) => token.trim().toLowerCase()))]
    );
    expect(tokens).toEqual([undefined, undefined, ['close'], undefined]);
  });

  it('runs the worker function with the printed service key, and only with it', async () => {
    const key = /GATEHOUSE_SERVICE_KEY=(\S+)/.exec(gatehouse.output())?.[1];
    expect(key).toBeDefined();
    const refused = await fetch(`${base}/functions/v1/worker`, { method: 'POST' });
    expect(refused.status).toBe(401);
    const res = await fetch(`${base}/functions/v1/worker`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      claimed: expect.any(Number),
      completed: expect.any(Number),
      retried: 0,
      dead: 0,
      slow: 0,
    });
  });

  it('answers an unknown function with a 404 problem', async () => {
    const res = await fetch(`${base}/functions/v1/no-such-function/x`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.headers.get('x-request-id')).toBeTruthy();
  });

  it('serves the console at / and the PWA at /app/, with the document headers and a CSP', async () => {
    for (const [path, title] of [['/', 'Gatehouse console'], ['/app/', 'Mobility hub']] as const) {
      const res = await fetch(`${base}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/html');
      expect(await res.text()).toContain(`<title>${title}</title>`);
      const csp = res.headers.get('content-security-policy')!;
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-inline');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
      expect(res.headers.get('cache-control')).toBe('no-cache');
    }
  });

  it("caches the build's hashed assets for good, and keeps its dot-files to itself", async () => {
    const html = await (await fetch(`${base}/`)).text();
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!;
    const res = await fetch(`${base}${script}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('javascript');
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    await res.arrayBuffer();
    for (const hidden of ['/.vite/manifest.json', '/.source-hash']) {
      const refused = await fetch(`${base}${hidden}`);
      expect(refused.status, hidden).toBe(404);
      await refused.arrayBuffer();
    }
  });

  it('tells the web apps where Supabase is: this server and its anon key', async () => {
    const res = await fetch(`${base}/config.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const config = await res.json() as Record<string, string>;
    expect(config.supabase_url).toBe(base);
    // The anon key the local sign-in accepts as `apikey`: a wrong password, not a wrong key.
    const signIn = (apikey: string) =>
      fetch(`${base}/auth/v1/token?grant_type=password`, {
        method: 'POST',
        headers: { apikey, 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'nobody@example.com', password: 'wrong password' }),
      });
    const wrongPassword = await signIn(config.supabase_anon_key!);
    expect(wrongPassword.status).toBe(400);
    expect(await wrongPassword.json()).toMatchObject({ error_code: 'invalid_credentials' });
    const wrongKey = await signIn('not-the-anon-key');
    expect(wrongKey.status).toBe(401);
    await wrongKey.arrayBuffer();
  });

  it('uses DATABASE_URL when set, the embedded database otherwise', async () => {
    if (database) {
      const rows = await database.db.query<{ n: number }>(
        `select count(*)::int as n from pg_namespace where nspname = 'gatehouse'`,
      );
      expect(rows).toEqual([{ n: 1 }]);
    } else {
      expect((await stat(join(dataDir, 'pglite'))).isDirectory()).toBe(true);
    }
  });

  it('stops cleanly on SIGTERM within 10 s and exits 0, idle keep-alive connection or not', async () => {
    // The keep-alive test's connection is still open and idle: shutdown must not wait on it.
    expect(Object.values(keepAlive.freeSockets).flat()).toHaveLength(1);
    const started = Date.now();
    gatehouse.child.kill('SIGTERM');
    expect(await gatehouse.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(gatehouse.output()).toContain('stopped cleanly');
    await expect(fetch(`${base}/functions/v1/health/live`)).rejects.toThrow();
  });
});

describe('gatehouse start again on the same data folder', () => {
  it('keeps what it stored: a redelivery is a duplicate', async () => {
    // The first server has stopped (SIGTERM test). Its database (embedded: the folder it
    // created, initialised by a thread that then ended) opens again as it was.
    expect(gatehouse.child.exitCode).toBe(0);
    const secret = /WHATSAPP_APP_SECRET=(\S+)/.exec(gatehouse.output())![1]!;
    const port = await freePort();
    const again = runGatehouse(['start'], {
      PORT: String(port),
      GATEHOUSE_DATA_DIR: dataDir,
      GATEHOUSE_EMBEDDED_DB_PORT: '0',
      ...(database ? { DATABASE_URL: database.url } : {}),
    });
    try {
      await waitForStatus(
        `http://127.0.0.1:${port}/functions/v1/health/ready`,
        200,
        again,
        STARTUP_TIMEOUT_MS,
      );
      expect(again.output()).toContain('migrations are current; nothing to apply');
      const body = whatsappNotification([{ id: 'wamid.smoke', from: '1555', text: 'hi' }]);
      const res = await fetch(`http://127.0.0.1:${port}/functions/v1/webhooks/whatsapp`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', ...signWhatsApp(body, secret) },
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'duplicate' });
    } finally {
      again.child.kill('SIGTERM');
      expect(await again.exited).toBe(0);
    }
  }, 120_000);
});

describe('gatehouse start with bad configuration', () => {
  it('refuses to start and names the variable', async () => {
    const bad = runGatehouse(['start'], { PORT: 'eighty', GATEHOUSE_DATA_DIR: dataDir });
    expect(await bad.exited).toBe(1);
    expect(bad.output()).toContain(
      'PORT: must be a whole number between 1 and 65535 (got "eighty")',
    );
  });

  it('refuses production without a service key (fail closed)', async () => {
    const bad = runGatehouse(['start'], {
      GATEHOUSE_ENV: 'production',
      DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none',
    });
    expect(await bad.exited).toBe(1);
    expect(bad.output()).toContain('GATEHOUSE_SERVICE_KEY: required when GATEHOUSE_ENV=production');
  });
});
