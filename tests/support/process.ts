import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

export const projectRoot = resolve(import.meta.dirname!, '../..');

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  const address = server.address();
  await new Promise<void>((done) => server.close(() => done()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export interface GatehouseProcess {
  readonly child: ChildProcess;
  /** Everything printed so far on stdout and stderr. */
  output(): string;
  /** Resolves with the exit code (or the signal name) once the process has ended. */
  readonly exited: Promise<number | string>;
}

/** Runs `node bin/gatehouse.mjs <args>` (what `npm start` runs) with `env` added. */
export function runGatehouse(args: string[], env: Record<string, string>): GatehouseProcess {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([key]) =>
      !/^(DATABASE_URL|GATEHOUSE_|PORT$|WHATSAPP_|STRIPE_|METRICS_TOKEN)/.test(key)
    ),
  );
  const child = spawn(process.execPath, [join(projectRoot, 'bin/gatehouse.mjs'), ...args], {
    env: { ...inherited, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | string>((done) =>
    child.on('exit', (code, signal) => done(code ?? signal ?? 'unknown'))
  );
  return { child, output: () => output, exited };
}

/** Polls `url` until it answers `status`, the process exits, or `timeoutMs` passes. */
export async function waitForStatus(
  url: string,
  status: number,
  gatehouse: GatehouseProcess,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let ended = false;
  void gatehouse.exited.then(() => (ended = true));
  while (Date.now() < deadline && !ended) {
    try {
      const res = await fetch(url);
      await res.body?.cancel();
      if (res.status === status) return;
    } catch {
      // not listening yet
    }
    await new Promise((next) => setTimeout(next, 100));
  }
  throw new Error(
    `${url} did not answer ${status} (exited: ${ended}); output:\n${gatehouse.output()}`,
  );
}

/**
 * Resolves with the output once `pattern` appears in it (a log line is written after the
 * response it describes, so it may arrive a moment later); throws after `timeoutMs`.
 */
export async function waitForOutput(
  gatehouse: GatehouseProcess,
  pattern: string | RegExp,
  timeoutMs = 5_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  const found = () =>
    typeof pattern === 'string'
      ? gatehouse.output().includes(pattern)
      : pattern.test(gatehouse.output());
  while (!found()) {
    if (Date.now() > deadline) {
      throw new Error(`output never showed ${pattern}; output:\n${gatehouse.output()}`);
    }
    await new Promise((next) => setTimeout(next, 20));
  }
  return gatehouse.output();
}
