/**
 * The shared circuit breaker on a real database: it opens after consecutive failures or a
 * failure ratio, refuses without calling while open, lets exactly one probe through when
 * half-open (however many instances ask), and closes or reopens on the probe's outcome;
 * two instances see one state; a healthy upstream costs no write per call.
 */
import { describe, expect, it } from 'vitest';
import {
  type BreakerPolicy,
  CircuitOpenError,
  createBreakers,
} from '../functions/_shared/breaker/index.ts';
import { useMigratedDatabase } from './support/migrated.ts';

const database = useMigratedDatabase({ reset: 'delete from circuit_breakers;' });

/** A process's clock the test moves (the breaker's cache lives by it). */
function testClock() {
  let now = 1_000_000;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

const POLICY: BreakerPolicy = { failureThreshold: 3, openMs: 60_000 };

/** One instance's breaker for `name`. */
function instance(name = 'graph', policy = POLICY, clock = testClock()) {
  return { breaker: createBreakers(database.db, { clock }).get(name, policy), clock };
}

const ok = () => Promise.resolve('ok');
const boom = () => Promise.reject(new Error('upstream 503'));

async function failures(breaker: ReturnType<typeof instance>['breaker'], n: number) {
  for (let i = 0; i < n; i++) await expect(breaker.run(boom)).rejects.toThrow('upstream 503');
}

async function row(name = 'graph') {
  const [found] = await database.db.query<{
    state: string;
    consecutive_failures: number;
    window_calls: number;
    window_failures: number;
    last_failure: string | null;
  }>(
    `select state, consecutive_failures, window_calls, window_failures, last_failure
       from circuit_breakers where name = $1`,
    [name],
  );
  return found ?? null;
}

/** What the passing of the open period looks like to the database. */
async function openPeriodPasses(name = 'graph') {
  await database.db.query(
    `update circuit_breakers set retry_at = now() - interval '1 second' where name = $1`,
    [name],
  );
}

describe('circuit breaker', () => {
  it('opens after consecutive failures and then refuses without calling', async () => {
    const { breaker } = instance();
    await failures(breaker, 2);
    expect(await row()).toMatchObject({ state: 'closed', consecutive_failures: 2 });
    await failures(breaker, 1);
    expect(await row()).toMatchObject({
      state: 'open',
      consecutive_failures: 3,
      last_failure: 'Error',
    });
    let called = false;
    const refused = await breaker.run(() => {
      called = true;
      return ok();
    }).catch((error) => error);
    expect(refused).toBeInstanceOf(CircuitOpenError);
    expect(refused).toMatchObject({ breaker: 'graph', state: 'open' });
    expect(refused.retryInMs).toBeGreaterThan(59_000);
    expect(called).toBe(false);
  });

  it('is shared: what one instance opened, another refuses', async () => {
    const a = instance();
    const b = instance();
    expect(await b.breaker.run(ok)).toBe('ok'); // b has seen it closed
    await failures(a.breaker, 3);
    // b trusts what it read for a second at most, then reads the open state.
    b.clock.advance(1_001);
    await expect(b.breaker.run(ok)).rejects.toBeInstanceOf(CircuitOpenError);
  });

  it('lets one probe through when half-open, however many instances ask at once', async () => {
    const { breaker } = instance();
    await failures(breaker, 3);
    await openPeriodPasses();
    let calls = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const probeCall = async () => {
      calls += 1;
      await gate;
      return 'back';
    };
    // Three of the four are refused while the probe is still out (held by the gate); if a
    // second probe went through, three would never be refused and the test would time out.
    let settled = 0;
    let threeSettled!: () => void;
    const three = new Promise<void>((resolve) => (threeSettled = resolve));
    const askers = [instance(), instance(), instance(), instance()].map(({ breaker: other }) =>
      other.run(probeCall).then((value) => value, (error) => error).finally(() => {
        settled += 1;
        if (settled === 3) threeSettled();
      })
    );
    await three;
    expect(calls).toBe(1);
    release();
    const results = await Promise.all(askers);
    expect(calls).toBe(1);
    expect(results.filter((r) => r === 'back')).toHaveLength(1);
    const refused = results.filter((r) => r instanceof CircuitOpenError) as CircuitOpenError[];
    expect(refused).toHaveLength(3);
    expect(refused.every((error) => error.state === 'half_open')).toBe(true);
    // The probe succeeded: closed, and calls flow again.
    expect(await row()).toMatchObject({ state: 'closed', consecutive_failures: 0 });
    expect(await instance().breaker.run(ok)).toBe('ok');
  });

  it('reopens when the probe fails', async () => {
    const { breaker, clock } = instance();
    await failures(breaker, 3);
    await openPeriodPasses();
    clock.advance(1_001); // past what this instance trusts of the open state it saw
    await failures(breaker, 1); // the probe
    expect(await row()).toMatchObject({ state: 'open', consecutive_failures: 4 });
    await expect(instance().breaker.run(ok)).rejects.toMatchObject({ state: 'open' });
  });

  it('opens on a failure ratio over its window, never on a short streak alone', async () => {
    const policy = { failureThreshold: 100, failureRatio: 0.5, minimumCalls: 10 };
    const { breaker } = instance('ratio', policy);
    // 6 successes and 4 failures, interleaved: 40 %.
    for (const good of [true, false, true, true, false, true, false, true, true, false]) {
      if (good) await breaker.run(ok);
      else await failures(breaker, 1);
    }
    expect(await row('ratio')).toMatchObject({
      state: 'closed',
      window_calls: 10,
      window_failures: 4,
    });
    await failures(breaker, 2); // 6 of 12: 50 %
    expect(await row('ratio')).toMatchObject({ state: 'open', window_failures: 6 });
  });

  it('counts a success as ending the streak, and a neutral outcome not at all', async () => {
    const { breaker } = instance();
    await failures(breaker, 2);
    await breaker.run(ok);
    await failures(breaker, 2);
    expect(await row()).toMatchObject({ state: 'closed', consecutive_failures: 2 });
    // A refusal that says nothing about the upstream (e.g. our own cancellation).
    const neutral = () => 'neutral' as const;
    for (let i = 0; i < 5; i++) {
      await expect(breaker.run(boom, neutral)).rejects.toThrow('upstream 503');
    }
    expect(await row()).toMatchObject({ state: 'closed', consecutive_failures: 2 });
  });

  it('classifies results too: an answer can be a failure (a 5xx)', async () => {
    const { breaker } = instance();
    const classify = (o: { ok: boolean; value?: number }) =>
      o.ok && (o.value ?? 500) < 500 ? 'success' as const : 'failure' as const;
    for (let i = 0; i < 3; i++) {
      expect(await breaker.run(() => Promise.resolve(503), classify, () => 'HTTP 503')).toBe(503);
    }
    expect(await row()).toMatchObject({ state: 'open', last_failure: 'HTTP 503' });
  });

  it('writes nothing per call while the upstream is healthy', async () => {
    const { breaker } = instance();
    for (let i = 0; i < 50; i++) expect(await breaker.run(ok)).toBe('ok');
    expect(await row()).toBeNull();
  });
});
