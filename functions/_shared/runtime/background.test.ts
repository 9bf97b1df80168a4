/**
 * A background tracker handed the same promise again (every delivery of a burst hands it
 * the worker's one coalesced kick) tracks it once; other promises each once.
 */
import { describe, expect, it } from 'vitest';
import { trackedOnce } from './background.ts';

describe('trackedOnce', () => {
  it('tracks a promise handed to it again only once, and every other promise', async () => {
    const seen: Promise<unknown>[] = [];
    const background = trackedOnce((task) => void seen.push(task));
    const kick = Promise.resolve('kick');
    const other = Promise.resolve('other');
    for (let i = 0; i < 50; i += 1) background(kick);
    background(other);
    background(kick);
    expect(seen).toEqual([kick, other]);
    expect(await Promise.all(seen)).toEqual(['kick', 'other']);
  });

  it('passes on a promise that rejects, for the tracker to report', async () => {
    const reported: unknown[] = [];
    const background = trackedOnce((task) => void task.catch((error) => reported.push(error)));
    const failing = Promise.reject(new Error('pass failed'));
    background(failing);
    background(failing);
    await failing.catch(() => {});
    expect(reported).toEqual([new Error('pass failed')]);
  });
});
