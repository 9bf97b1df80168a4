import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { type LocalServer, startLocalServer } from '../../support/local-server.ts';
import { startThrowawayCluster, type ThrowawayCluster } from './cluster.ts';
import { descendantsOf, gatehouseServerPid, readRssKb, sampleRss } from './rss.ts';

const MB = 1024;
const children: ChildProcess[] = [];
let server: LocalServer | undefined;
let cluster: ThrowawayCluster | undefined;
afterEach(async () => {
  for (const child of children.splice(0)) {
    for (const pid of descendantsOf(child.pid!)) process.kill(pid, 'SIGKILL');
    child.kill('SIGKILL');
  }
  await server?.stop();
  await cluster?.destroy();
  server = undefined;
  cluster = undefined;
});

/**
 * A Node process that, once told on stdin, fills `mb` megabytes (touched, so resident) in
 * itself, or in a child of its own when `inChild`. Each ends when its stdin closes, so a
 * parent killed by SIGKILL takes its child along.
 */
function allocator(mb: number, inChild = false): ChildProcess {
  const fill = [
    `process.stdin.once('data', () => { globalThis.kept = Buffer.alloc(${mb} * 2 ** 20, 1); });`,
    "process.stdin.on('end', () => process.exit(0)).resume();",
  ].join('\n');
  const relay = [
    "const { spawn } = require('node:child_process');",
    `const child = spawn(process.execPath, ['-e', ${
      JSON.stringify(fill)
    }], { stdio: ['pipe', 'ignore', 'ignore'] });`,
    'process.stdin.pipe(child.stdin);',
    "process.stdin.on('end', () => process.exit(0));",
  ].join('\n');
  const child = spawn(process.execPath, ['-e', inChild ? relay : fill], {
    stdio: ['pipe', 'ignore', 'inherit'],
  });
  children.push(child);
  return child;
}

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((next) => setTimeout(next, 20));
  }
}

describe('sampleRss', () => {
  it('sees a real process grow and reports its peak', async () => {
    const child = allocator(150);
    const rss = sampleRss(child.pid!, { intervalMs: 20, resetHighWater: true });
    await until(() => rss.current().samples.length >= 3, 'first samples');
    const before = rss.current().lastKb;
    expect(before).toBeGreaterThan(10 * MB); // a Node process
    expect(before).toBeLessThan(120 * MB);

    child.stdin!.write('grow\n');
    await until(() => rss.current().lastKb >= before + 150 * MB, '150 MB more resident');
    const report = rss.stop();
    expect(report.peakKb).toBeGreaterThanOrEqual(before + 150 * MB);
    expect(report.highWaterKb).toBeGreaterThanOrEqual(report.peakKb);
    expect(report.samples[0]!.kb).toBeLessThan(before + 50 * MB);
    expect(report.samples.every((s, i) => i === 0 || s.at >= report.samples[i - 1]!.at)).toBe(true);
    // Stopped: no more samples.
    expect(rss.stop().samples).toHaveLength(report.samples.length);
  });

  it('counts descendants unless told not to', async () => {
    const parent = allocator(120, true);
    await until(() => descendantsOf(parent.pid!).length === 1, 'the child process');
    const withChildren = sampleRss(parent.pid!, { intervalMs: 20 });
    const alone = sampleRss(parent.pid!, { intervalMs: 20, includeChildren: false });
    await until(() => withChildren.current().samples.length >= 2, 'first samples');
    const both = withChildren.current().lastKb;
    parent.stdin!.write('grow\n');
    await until(() => withChildren.current().lastKb >= both + 120 * MB, 'the child to fill 120 MB');
    expect(withChildren.stop().peakKb).toBeGreaterThanOrEqual(both + 120 * MB);
    // The parent alone is a fraction of the two before the child grew.
    expect(alone.stop().peakKb).toBeLessThan(both);
  });

  it('finds the Deno server under `node bin/gatehouse.mjs` and reads its memory', async () => {
    cluster = await startThrowawayCluster();
    server = await startLocalServer({ DATABASE_URL: cluster.url });
    const wrapper = server.gatehouse.child;
    const pid = await gatehouseServerPid(wrapper);
    expect(pid).not.toBe(wrapper.pid);
    expect(readFileSync(`/proc/${pid}/comm`, 'utf8').trim()).toBe('deno');
    const rss = sampleRss(pid, { intervalMs: 20 });
    await until(() => rss.current().samples.length >= 3, 'samples');
    const report = rss.stop();
    // A Deno server: tens of MB at least, and not the wrapper's.
    expect(report.peakKb).toBeGreaterThan(40 * MB);
    expect(report.peakKb).not.toBe(readRssKb(wrapper.pid!));
  });

  it('ends quietly when the process is gone', async () => {
    const child = allocator(1);
    const rss = sampleRss(child.pid!, { intervalMs: 10 });
    child.kill('SIGKILL');
    await new Promise((exited) => child.once('exit', exited));
    await until(() => readRssKb(child.pid!) === null, 'the process to be reaped');
    const count = rss.current().samples.length;
    const report = rss.stop();
    expect(report.samples).toHaveLength(count);
    expect(report.highWaterKb).toBeNull();
  });
});
