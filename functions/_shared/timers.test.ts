/**
 * Deadlines served by one timer per length: each fires once its own time has passed (never
 * early, in the order they began), a cancelled one never fires, and the timer never keeps
 * a process alive.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../tests/support/process.ts';
import { deadlineAfter, deadlinesWaiting } from './timers.ts';

const waitFor = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('deadlineAfter', () => {
  it('calls each expiry once its own time has passed, never early, in the order they began', async () => {
    const started = performance.now();
    const fired: { name: string; after: number }[] = [];
    const note = (name: string, began: number) => () =>
      fired.push({ name, after: performance.now() - began });
    deadlineAfter(60, note('first', performance.now()));
    await waitFor(25);
    const secondBegan = performance.now();
    deadlineAfter(60, note('second', secondBegan));
    await waitFor(150);
    expect(fired.map((entry) => entry.name)).toEqual(['first', 'second']);
    for (const entry of fired) expect(entry.after).toBeGreaterThanOrEqual(59);
    // The second had its own 60 ms, not what was left of the first's.
    expect(fired[1]!.after + (secondBegan - started)).toBeGreaterThan(fired[0]!.after);
  });

  it('never calls a cancelled expiry, and ones behind it still fire', async () => {
    const fired: string[] = [];
    const first = deadlineAfter(40, () => fired.push('first'));
    const second = deadlineAfter(40, () => fired.push('second'));
    deadlineAfter(40, () => fired.push('third'));
    first.cancel();
    second.cancel();
    second.cancel(); // twice is harmless
    await waitFor(120);
    expect(fired).toEqual(['third']);
  });

  it('lets a cancelled deadline go at once, wherever it stands in the line', () => {
    // A long deadline held by the first entry: those behind it, cancelled, must not wait
    // for it to end (under a flood they were kept alive long enough to age in the heap).
    const ms = 45_000;
    const fired: number[] = [];
    const head = deadlineAfter(ms, () => fired.push(-1));
    const behind = Array.from({ length: 1_000 }, (_, i) => deadlineAfter(ms, () => fired.push(i)));
    expect(deadlinesWaiting(ms)).toBe(1_001);
    for (const deadline of behind) deadline.cancel();
    expect(deadlinesWaiting(ms)).toBe(1);
    head.cancel();
    expect(deadlinesWaiting(ms)).toBe(0);
    expect(fired).toEqual([]);
  });

  it('keeps lengths apart: a shorter deadline begun later fires first', async () => {
    const fired: string[] = [];
    deadlineAfter(90, () => fired.push('long'));
    deadlineAfter(20, () => fired.push('short'));
    await waitFor(60);
    expect(fired).toEqual(['short']);
    await waitFor(80);
    expect(fired).toEqual(['short', 'long']);
  });

  it('lets a process end while a deadline is pending', () => {
    const script = `
      import { deadlineAfter } from ${
      JSON.stringify(join(projectRoot, 'functions/_shared/timers.ts'))
    };
      deadlineAfter(20_000, () => console.log('fired'));
      const cancelled = deadlineAfter(20_000, () => console.log('fired'));
      cancelled.cancel();
      console.log('done');
    `;
    const started = performance.now();
    const run = spawnSync(join(projectRoot, 'node_modules/.bin/deno'), ['eval', script], {
      encoding: 'utf8',
      timeout: 15_000,
    });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout.trim()).toBe('done');
    expect(performance.now() - started).toBeLessThan(15_000);
  });
});
