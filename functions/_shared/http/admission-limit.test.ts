/** The adaptive in-flight limit of `createAdmission`, on a hand-driven clock. */
import { describe, expect, it } from 'vitest';
import { capturedLogger } from '../../../tests/support/logs.ts';
import {
  admissionGate,
  createAdmission,
  LAG_LIMIT_MS,
  LAG_PROBE_IDLE_MS,
  LIMIT_WINDOW_MS,
  type LoopLag,
  startLoopLagProbe,
} from './admission.ts';

describe('the adaptive in-flight limit', () => {
  /** An admission on a hand-driven clock, and a way to finish `n` requests taking `ms`. */
  function adaptive(
    options: { maxInFlight?: number; minInFlight?: number; loopLag?: LoopLag } = {},
  ) {
    let clock = 0;
    const admission = createAdmission({
      maxInFlight: options.maxInFlight ?? 100,
      maxBufferedBytes: 1024,
      targetLatencyMs: 50,
      minInFlight: options.minInFlight,
      now: () => clock,
      loopLag: options.loopLag ?? null,
    });
    const finish = (n: number, ms: number) => {
      for (let i = 0; i < n; i += 1) expect(admission.enter(0)).toBe('admitted');
      for (let i = 0; i < n; i += 1) admission.leave(0, ms);
    };
    /** Moves the clock past the window and lets the admission close it. */
    const nextWindow = () => {
      clock += LIMIT_WINDOW_MS;
      admission.pressed();
    };
    return { admission, finish, nextWindow, limit: () => admission.stats().limit };
  }

  it('shrinks by a fifth per window while requests miss the target, down to its floor', () => {
    const { admission, finish, nextWindow, limit } = adaptive({ minInFlight: 30 });
    expect(limit()).toBe(100);
    expect(admission.pressed()).toBe(false);
    finish(100, 80); // every request of the window took 80 ms against 50
    nextWindow();
    expect(limit()).toBe(80);
    expect(admission.pressed()).toBe(true);
    for (let i = 0; i < 10; i += 1) {
      finish(limit(), 200);
      nextWindow();
    }
    expect(limit()).toBe(30);
    // The limit is what is admitted: the 31st request in flight is shed.
    for (let i = 0; i < 30; i += 1) expect(admission.enter(0)).toBe('admitted');
    expect(admission.enter(0)).toBe('in_flight');
  });

  it('holds when at most one request in twenty misses the target, and grows back by a tenth', () => {
    const { finish, nextWindow, limit } = adaptive();
    finish(100, 100);
    nextWindow();
    expect(limit()).toBe(80);
    finish(19, 10);
    finish(1, 500); // 5 %: not more than the share that shrinks it
    nextWindow();
    expect(limit()).toBe(88);
    finish(20, 10);
    nextWindow();
    expect(limit()).toBe(96);
    finish(20, 10);
    nextWindow();
    expect(limit()).toBe(100); // never above the maximum
  });

  it('recovers while idle, a step per window that passed', () => {
    const { admission, finish, nextWindow, limit } = adaptive({ minInFlight: 8 });
    for (let i = 0; i < 20; i += 1) {
      finish(limit(), 1_000);
      nextWindow();
    }
    expect(limit()).toBe(8);
    expect(admission.pressed()).toBe(true);
    // Nothing in flight: the limit climbs back to the maximum within 4 s (8 → 100 by
    // tenths takes 31 windows of 100 ms).
    for (let i = 0; i < 30; i += 1) nextWindow();
    expect(limit()).toBe(94);
    nextWindow();
    expect(limit()).toBe(100);
    expect(admission.pressed()).toBe(false);
  });

  it('holds while requests are stuck in flight and none finishes', () => {
    const { admission, finish, nextWindow, limit } = adaptive();
    finish(100, 300);
    nextWindow();
    expect(limit()).toBe(80);
    expect(admission.enter(0)).toBe('admitted'); // hangs: a held lock
    for (let i = 0; i < 5; i += 1) nextWindow();
    expect(limit()).toBe(80);
  });

  it('holds while fewer requests are in flight than a smaller limit would admit', () => {
    // A fixed set of senders, each waiting for its answer before sending again, slow at
    // the door: a smaller limit would refuse none of them, so the limit does not drift down
    // to where it would.
    const lags = [40, 0, 0, 0, 0, 0, 0, 0, 0];
    const { admission, finish, nextWindow, limit } = adaptive({
      loopLag: { worst: () => lags.shift() ?? 0 },
    });
    for (let i = 0; i < 5; i += 1) {
      finish(80, 200);
      nextWindow();
    }
    expect(limit()).toBe(100);
    // Pressed all the same: the job worker yields while requests miss the target.
    expect(admission.pressed()).toBe(true);
    finish(81, 200); // one more than a limit of 80 admits
    nextWindow();
    expect(limit()).toBe(80);
    finish(64, 200);
    nextWindow();
    expect(limit()).toBe(80);
    finish(65, 200);
    nextWindow();
    expect(limit()).toBe(64);
  });

  it('says the process is pressed in the window of a refusal and the next', () => {
    const { admission, nextWindow } = adaptive({ maxInFlight: 1, minInFlight: 1 });
    expect(admission.enter(0)).toBe('admitted');
    expect(admission.enter(0)).toBe('in_flight');
    expect(admission.pressed()).toBe(true);
    nextWindow();
    expect(admission.pressed()).toBe(true);
    admission.leave(0, 1);
    nextWindow();
    expect(admission.pressed()).toBe(false);
  });

  it('shrinks in a window whose event loop ran late, even when every request was quick', () => {
    const lags = [40, 0, 0];
    const { finish, nextWindow, limit } = adaptive({ loopLag: { worst: () => lags.shift() ?? 0 } });
    finish(100, 5); // quick at the door, but the loop fired 40 ms late: requests queued before it
    nextWindow();
    expect(limit()).toBe(80);
    finish(20, 5);
    nextWindow();
    expect(limit()).toBe(88);
  });

  it('watches the event loop by itself when it has a target', async () => {
    const probe = startLoopLagProbe();
    const until = performance.now() + 40;
    while (performance.now() < until) {
      // A 40 ms stretch of work: the probe's timer fires about 30 ms late.
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(probe.worst()).toBeGreaterThan(LAG_LIMIT_MS);
    expect(probe.worst()).toBeLessThan(LAG_LIMIT_MS); // read and reset
  });

  it('stops watching after an idle second, and starts again at the next reading', async () => {
    const probe = startLoopLagProbe();
    // Idle: nobody reads the probe, which stops its timer.
    await new Promise((resolve) => setTimeout(resolve, LAG_PROBE_IDLE_MS + 100));
    const busy = () => {
      const until = performance.now() + 40;
      while (performance.now() < until) {
        // A 40 ms stretch of work.
      }
    };
    busy();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(probe.worst()).toBe(0); // stopped: nothing was measured, and it starts again
    busy();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(probe.worst()).toBeGreaterThan(LAG_LIMIT_MS);
  });

  it('stays at the maximum without a target', () => {
    const admission = createAdmission({ maxInFlight: 4, maxBufferedBytes: 1024 });
    for (let i = 0; i < 50; i += 1) {
      admission.enter(0);
      admission.leave(0, 10_000);
    }
    expect(admission.stats().limit).toBe(4);
  });

  it('times admitted requests at the door', async () => {
    let clock = 0;
    const admission = createAdmission({
      maxInFlight: 10,
      minInFlight: 1,
      maxBufferedBytes: 1024,
      targetLatencyMs: 50,
      now: () => clock,
      loopLag: null,
    });
    const gate = admissionGate(admission, {
      bodyLimitBytes: 1024,
      logger: capturedLogger().logger,
      functionName: 'webhooks',
      now: () => clock,
    });
    // Ten requests in flight together, each answered 70 ms after it came in.
    let release = () => {};
    const answered = new Promise<void>((resolve) => (release = resolve));
    const answers = Array.from(
      { length: 10 },
      () =>
        gate(new Request('http://x/webhooks/a'), async () => {
          await answered;
          return new Response('ok');
        }, () => '/webhooks/a'),
    );
    clock += 70;
    release();
    for (const res of await Promise.all(answers)) expect(res.status).toBe(200);
    clock += LIMIT_WINDOW_MS;
    expect(admission.pressed()).toBe(true);
    expect(admission.stats().limit).toBe(8);
  });
});
