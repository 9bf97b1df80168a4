/**
 * The guard and the pinned client under both runtimes: the same scenarios run in this Node
 * process and in a Deno child (production runs Deno), against the same local receivers.
 * The Deno child may reach 127.0.0.1 only (`--allow-net=127.0.0.1`): a lookup of the
 * target's name, or a connection anywhere else, would fail with a permission error there.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBlackHole } from '../../../../tests/support/black-hole.ts';
import {
  hasOpenssl,
  type Receiver,
  selfSignedCertificate,
  startReceiver,
} from '../../../../tests/support/outbound-receivers.ts';
import {
  type Outcome,
  runScenarios,
  type Scenario,
} from '../../../../tests/support/outbound-scenarios.ts';
import { projectRoot } from '../../../../tests/support/process.ts';

const HOST = 'hooks.example.test';
const PUBLIC = '93.184.215.14';

let plain: Receiver;
let secure: Receiver | undefined;
let cert = '';
let hole: Awaited<ReturnType<typeof startBlackHole>>;

beforeAll(async () => {
  plain = await startReceiver();
  hole = await startBlackHole();
  if (hasOpenssl) {
    const tls = selfSignedCertificate([HOST], ['127.0.0.1']);
    cert = tls.cert;
    secure = await startReceiver(tls);
  }
});
afterAll(async () => {
  await Promise.all([plain.close(), hole.close(), secure?.close()]);
});

function scenarios(runtime: string): Scenario[] {
  const local = { answers: [['127.0.0.1']], allowedTargets: ['127.0.0.1/32'] };
  const at = (path: string) => `http://${HOST}:${plain.port}${path}`;
  const list: Scenario[] = [
    {
      name: 'rebinding',
      url: at(`/ok?runtime=${runtime}`),
      answers: [['127.0.0.1'], ['169.254.169.254']],
      allowedTargets: ['127.0.0.1/32'],
      request: { method: 'POST', body: runtime },
    },
    { name: 'redirect', url: at('/redirect'), ...local },
    { name: 'retry-after', url: at('/busy'), ...local },
    { name: 'endless', url: at('/endless'), ...local },
    { name: 'utf8', url: at('/utf8'), ...local, request: { maxExcerptBytes: 5 } },
    {
      name: 'timeout',
      url: `http://${HOST}:${hole.port}/`,
      ...local,
      request: { timeoutMs: 200 },
    },
    { name: 'mixed answers', url: `https://${HOST}/`, answers: [[PUBLIC, '10.0.0.1']] },
    { name: 'hex literal', url: 'https://0x7f.1/', answers: [[PUBLIC]] },
    { name: 'mapped literal', url: 'https://[::ffff:127.0.0.1]/', answers: [[PUBLIC]] },
  ];
  if (secure === undefined) return list;
  const tls = (host: string) => `https://${host}:${secure!.port}/ok?runtime=${runtime}`;
  return [
    ...list,
    { name: 'tls by name', url: tls(HOST), ...local, request: { ca: cert } },
    { name: 'tls wrong name', url: tls('other.example.test'), ...local, request: { ca: cert } },
    { name: 'tls untrusted', url: tls(HOST), ...local },
    { name: 'tls literal ip', url: tls('127.0.0.1'), ...local, request: { ca: cert } },
  ];
}

function expectOutcomes(outcomes: Outcome[]) {
  const by = Object.fromEntries(outcomes.map((outcome) => [outcome.name, outcome]));
  expect(by.rebinding).toMatchObject({
    lookups: 1,
    address: '127.0.0.1',
    response: { status: 200, excerpt: 'hello', truncated: false },
  });
  expect(by.redirect?.response).toMatchObject({ status: 302, headers: { location: '/landed' } });
  expect(by['retry-after']?.response).toMatchObject({
    status: 503,
    headers: { 'retry-after': '120' },
  });
  expect(by.endless?.response).toMatchObject({ excerpt: 'a'.repeat(4096), truncated: true });
  expect(by.utf8?.response).toMatchObject({ excerpt: 'éé', truncated: true });
  expect(by.timeout?.error).toMatchObject({ type: 'OutboundRequestFailed', reason: 'timeout' });
  expect(by['mixed answers']).toMatchObject({
    lookups: 1,
    error: { type: 'OutboundRefused', reason: 'blocked_address' },
  });
  for (const name of ['hex literal', 'mapped literal']) {
    expect(by[name], name).toMatchObject({ lookups: 0, error: { reason: 'blocked_address' } });
  }
  if (secure === undefined) return;
  expect(by['tls by name']?.response).toMatchObject({ status: 200, excerpt: 'hello' });
  expect(by['tls wrong name']?.error).toMatchObject({
    reason: 'tls',
    message: expect.stringMatching(/^GET other\.example\.test: TLS handshake failed/),
  });
  expect(by['tls untrusted']?.error).toMatchObject({ reason: 'tls' });
  expect(by['tls literal ip']?.response).toMatchObject({ status: 200 });
}

/** Runs the scenarios in a Deno child process; resolves with what it printed. */
async function underDeno(list: Scenario[]): Promise<Outcome[]> {
  const deno: string = createRequire(import.meta.url)('deno/install_api.cjs').runInstall();
  const dir = mkdtempSync(join(tmpdir(), 'outbound-deno-'));
  const script = join(dir, 'run.mjs');
  const support = pathToFileURL(join(projectRoot, 'tests/support/outbound-scenarios.ts')).href;
  writeFileSync(
    script,
    `const { runScenarios } = await import(${JSON.stringify(support)});\n` +
      'const input = await new Response(Deno.stdin.readable).text();\n' +
      'console.log(JSON.stringify(await runScenarios(JSON.parse(input))));\n',
  );
  try {
    const child = spawn(deno, [
      'run',
      '--quiet',
      '--no-prompt',
      '--allow-net=127.0.0.1',
      // Deno's node:https looks up the system's extra CA certificates (an env variable, a
      // system call) for each connection.
      '--allow-sys',
      '--allow-env',
      `--allow-read=${projectRoot},${dir}`,
      '--config',
      join(projectRoot, 'deno.json'),
      script,
    ], { cwd: projectRoot, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.stdin.end(JSON.stringify(list));
    const code = await new Promise<number | null>((done) => child.on('close', done));
    if (code !== 0) throw new Error(`deno exited ${code}: ${stderr}`);
    return JSON.parse(stdout) as Outcome[];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the same outcomes under Node and Deno', () => {
  it('Node', async () => {
    expectOutcomes(await runScenarios(scenarios('node')));
    expect(plain.received).toContainEqual({
      method: 'POST',
      path: '/ok?runtime=node',
      host: `${HOST}:${plain.port}`,
      body: 'node',
    });
  });

  it('Deno', async () => {
    expectOutcomes(await underDeno(scenarios('deno')));
    expect(plain.received).toContainEqual({
      method: 'POST',
      path: '/ok?runtime=deno',
      host: `${HOST}:${plain.port}`,
      body: 'deno',
    });
    if (secure !== undefined) {
      expect(secure.received).toContainEqual(expect.objectContaining({
        path: '/ok?runtime=deno',
        host: `${HOST}:${secure.port}`,
      }));
    }
  });
});
