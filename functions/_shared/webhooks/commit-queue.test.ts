/**
 * The commit queue's rules, with a `send` the test controls (the queue has no SQL; the
 * ingestor's tests run it against the database).
 */
import { describe, expect, it, vi } from 'vitest';
import { DatabaseTimeoutError } from '../db/types.ts';
import {
  type CommitQueueOptions,
  createCommitQueue,
  type Entry,
  QueueOverloadedError,
} from './commit-queue.ts';
import { NO_SHEDDING } from '../../../tests/support/ingest.ts';

type Item = string;

/** A `send` that records each call (its items, and per group) and answers when told. */
function controlledSend() {
  const batches: { items: Item[]; groups: Item[][]; answer: () => void }[] = [];
  const send = (parts: Entry<Item, string>[][], release: () => void) =>
    new Promise<void>((done) => {
      batches.push({
        items: parts.flat().map((entry) => entry.item),
        groups: parts.map((part) => part.map((entry) => entry.item)),
        answer() {
          release();
          for (const entry of parts.flat()) entry.resolve(`ok:${entry.item}`);
          done();
        },
      });
    });
  return { send, batches };
}

/** A queue on `send`: one call slot, batches of 10, no timeout or shedding, unless `options` say. */
function queueWith(
  send: Parameters<typeof createCommitQueue<Item, string>>[0],
  options: Partial<CommitQueueOptions> = {},
) {
  return createCommitQueue(send, {
    maxBatchSize: 10,
    maxInFlightPerGroup: 1,
    maxCalls: 1,
    timeoutMs: 0,
    overload: NO_SHEDDING,
    ...options,
  });
}
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('createCommitQueue', () => {
  it('sends what arrives while a batch is in flight together, within the batch size', async () => {
    const { send, batches } = controlledSend();
    const queue = queueWith(send, { maxBatchSize: 3, maxCalls: 4 });
    const first = queue.submit('g', 'a', 1);
    await settle();
    const rest = ['b', 'c', 'd', 'e'].map((item) => queue.submit('g', item, 1));
    await settle();
    expect(batches.map((batch) => batch.items)).toEqual([['a']]);
    batches[0]!.answer();
    await settle();
    expect(batches.map((batch) => batch.items)).toEqual([['a'], ['b', 'c', 'd']]);
    batches[1]!.answer();
    await settle();
    batches[2]!.answer();
    expect(await first).toBe('ok:a');
    expect(await Promise.all(rest)).toEqual(['ok:b', 'ok:c', 'ok:d', 'ok:e']);
    expect(batches.map((batch) => batch.items)).toEqual([['a'], ['b', 'c', 'd'], ['e']]);
  });

  it('keeps at most maxCalls batches in flight; waiting groups go in the order they came', async () => {
    const { send, batches } = controlledSend();
    const queue = queueWith(send, { maxCalls: 2 });
    const answers = ['x', 'y', 'z', 'w'].map((group) => queue.submit(group, group, 1));
    await settle();
    expect(batches.map((batch) => batch.items)).toEqual([['x'], ['y']]);
    expect(queue.stats()).toMatchObject({ calls: 2, waiting: 2 });
    batches[1]!.answer();
    await settle();
    expect(batches.map((batch) => batch.items)).toEqual([['x'], ['y'], ['z']]);
    batches[0]!.answer();
    await settle();
    batches[2]!.answer();
    await settle();
    batches[3]!.answer();
    expect(await Promise.all(answers)).toEqual(['ok:x', 'ok:y', 'ok:z', 'ok:w']);
  });

  it('carries the batches of groups waiting for a slot in the next call, within the limits', async () => {
    const { send, batches } = controlledSend();
    const queue = queueWith(send, { maxBatchSize: 4, maxGroupsPerCall: 3 });
    const first = queue.submit('a', 'a1', 1);
    await settle();
    // While a's call is in flight: five more groups, one of them with three items.
    const waiting = [
      queue.submit('b', 'b1', 1),
      queue.submit('c', 'c1', 1),
      queue.submit('c', 'c2', 1),
      queue.submit('c', 'c3', 1),
      queue.submit('d', 'd1', 1),
      queue.submit('e', 'e1', 1),
      queue.submit('f', 'f1', 1),
    ];
    await settle();
    expect(batches.map((call) => call.groups)).toEqual([[['a1']]]);
    batches[0]!.answer();
    await settle();
    // b, then c's three (the size limit of 4 reached): two groups in one call.
    expect(batches[1]!.groups).toEqual([['b1'], ['c1', 'c2', 'c3']]);
    batches[1]!.answer();
    await settle();
    // Then d, e and f: three groups, the most one call carries.
    expect(batches[2]!.groups).toEqual([['d1'], ['e1'], ['f1']]);
    batches[2]!.answer();
    expect(await first).toBe('ok:a1');
    expect(await Promise.all(waiting)).toEqual(
      ['ok:b1', 'ok:c1', 'ok:c2', 'ok:c3', 'ok:d1', 'ok:e1', 'ok:f1'],
    );
    expect(queue.stats()).toMatchObject({ waiting: 0, calls: 0 });
  });

  it("hands a call's batches to send in the order of their group keys", async () => {
    const { send, batches } = controlledSend();
    const queue = queueWith(send, { maxGroupsPerCall: 4 });
    const answers = ['a', 'z', 'm', 'b'].map((group) => queue.submit(group, group, 1));
    await settle();
    batches[0]!.answer();
    await settle();
    // z, m and b queued in that order; their shared call carries them sorted.
    expect(batches[1]!.groups).toEqual([['b'], ['m'], ['z']]);
    batches[1]!.answer();
    expect(await Promise.all(answers)).toEqual(['ok:a', 'ok:z', 'ok:m', 'ok:b']);
  });

  it('sends what a group still holds after riding along once that call is answered', async () => {
    const { send, batches } = controlledSend();
    const queue = queueWith(send, { maxBatchSize: 3, maxGroupsPerCall: 4 });
    const first = queue.submit('a', 'a1', 1);
    await settle();
    const rest = [
      queue.submit('b', 'b1', 1),
      queue.submit('c', 'c1', 1),
      queue.submit('c', 'c2', 1),
      queue.submit('c', 'c3', 1),
    ];
    await settle();
    batches[0]!.answer();
    await settle();
    // c rides along with what fits (two of its three), never in two calls at once.
    expect(batches[1]!.groups).toEqual([['b1'], ['c1', 'c2']]);
    batches[1]!.answer();
    await settle();
    expect(batches[2]!.groups).toEqual([['c3']]);
    batches[2]!.answer();
    expect(await first).toBe('ok:a1');
    expect(await Promise.all(rest)).toEqual(['ok:b1', 'ok:c1', 'ok:c2', 'ok:c3']);
  });

  it('answers an entry past its deadline and never sends one that timed out waiting', async () => {
    const { send, batches } = controlledSend();
    const queue = queueWith(send, { timeoutMs: 50 });
    const stuck = queue.submit('g', 'stuck', 1);
    await settle();
    const waiting = queue.submit('g', 'late', 1);
    await expect(stuck).rejects.toBeInstanceOf(DatabaseTimeoutError);
    await expect(waiting).rejects.toBeInstanceOf(DatabaseTimeoutError);
    batches[0]!.answer(); // the stuck batch ends after all
    await settle();
    expect(batches.map((batch) => batch.items)).toEqual([['stuck']]);
    expect(queue.stats()).toMatchObject({ waiting: 0, calls: 0 });
  });

  it('gives each entry its own deadline, whatever was answered before or beside it', async () => {
    const { send, batches } = controlledSend();
    const queue = queueWith(send, { timeoutMs: 60, maxCalls: 3 });
    const quick = queue.submit('a', 'quick', 1);
    const stuck = queue.submit('b', 'stuck', 1);
    await settle();
    batches[0]!.answer(); // the first entry is answered; the one behind it is not
    expect(await quick).toBe('ok:quick');
    await new Promise((resolve) => setTimeout(resolve, 30));
    const laterStarted = performance.now();
    const later = queue.submit('c', 'later', 1);
    const laterAnswer = later.then(
      () => 'answered',
      (error) => error,
    );
    await expect(stuck).rejects.toBeInstanceOf(DatabaseTimeoutError);
    // The later entry has its own 60 ms, not what was left of the stuck one's.
    expect(await laterAnswer).toBeInstanceOf(DatabaseTimeoutError);
    expect(performance.now() - laterStarted).toBeGreaterThanOrEqual(59);
    expect(queue.stats()).toMatchObject({ waiting: 0 });
  });

  it('stops its overload sweep once nothing waits', async () => {
    vi.useFakeTimers();
    try {
      const { send, batches } = controlledSend();
      const queue = queueWith(send, {
        maxBatchSize: 2,
        overload: { targetMs: 10, intervalMs: 100 },
        now: () => Date.now(),
      });
      const answers = ['a', 'b', 'c'].map((item) => queue.submit('g', item, 1));
      await vi.advanceTimersByTimeAsync(0);
      batches[0]!.answer(); // a and b
      await vi.advanceTimersByTimeAsync(0);
      expect(batches.map((batch) => batch.items)).toEqual([['a', 'b'], ['c']]);
      expect(vi.getTimerCount()).toBe(1); // the sweep, while c waits
      batches[1]!.answer();
      expect(await Promise.all(answers)).toEqual(['ok:a', 'ok:b', 'ok:c']);
      await vi.advanceTimersByTimeAsync(20); // it runs once more and, nothing waiting, stops
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('sheds entries of a queue standing past the interval, and not those of a short burst', async () => {
    const { send, batches } = controlledSend();
    const queue = queueWith(send, {
      timeoutMs: 10_000,
      overload: { targetMs: 20, intervalMs: 60 },
    });
    // A burst: waits behind a batch that answers after ~30 ms, within the interval.
    const head = queue.submit('g', 'head', 1);
    await settle();
    const burst = queue.submit('g', 'burst', 1);
    await new Promise((resolve) => setTimeout(resolve, 30));
    batches[0]!.answer();
    await settle();
    expect(batches.map((batch) => batch.items)).toEqual([['head'], ['burst']]);
    batches[1]!.answer();
    expect([await head, await burst]).toEqual(['ok:head', 'ok:burst']);

    // Standing: the batch in flight never answers; what waits behind it is shed.
    const blocker = queue.submit('g', 'blocker', 1);
    await settle();
    const started = performance.now();
    const behind = queue.submit('g', 'behind', 1);
    await expect(behind).rejects.toBeInstanceOf(QueueOverloadedError);
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(60);
    expect(waited).toBeLessThan(500);
    expect(queue.stats().shed).toBe(1);
    batches[2]!.answer();
    expect(await blocker).toBe('ok:blocker');
    await settle();
    expect(batches).toHaveLength(3); // 'behind' was never sent
  });
});
