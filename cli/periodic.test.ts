import { describe, expect, it } from 'vitest';
import { runPeriodically } from './periodic.ts';

describe('runPeriodically', () => {
  it('never runs a task twice at once, and stop aborts the run under way and waits for it', async () => {
    let running = 0;
    let most = 0;
    let runs = 0;
    let ended = false;
    const errors: unknown[] = [];
    const periodic = runPeriodically(
      (signal) => {
        runs += 1;
        running += 1;
        most = Math.max(most, running);
        // Runs until stopped: every tick meanwhile finds it under way.
        return new Promise<void>((resolve) => {
          signal.addEventListener('abort', () => {
            running -= 1;
            ended = true;
            resolve();
          });
        });
      },
      5,
      (error) => errors.push(error),
      { immediately: true },
    );
    await expect.poll(() => runs).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(runs).toBe(1);
    await periodic.stop();
    expect(ended).toBe(true);
    expect(most).toBe(1);
    expect(errors).toEqual([]);
  });

  it('hands a failing run to onError, thrown or rejected, and keeps ticking', async () => {
    const errors: string[] = [];
    let runs = 0;
    const periodic = runPeriodically(
      () => {
        runs += 1;
        if (runs === 1) throw new Error('thrown');
        return Promise.reject(new Error('rejected'));
      },
      5,
      (error) => errors.push((error as Error).message),
    );
    await expect.poll(() => errors.length).toBeGreaterThanOrEqual(2);
    await periodic.stop();
    expect(errors.slice(0, 2)).toEqual(['thrown', 'rejected']);
  });
});
