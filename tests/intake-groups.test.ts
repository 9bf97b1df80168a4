/**
 * ingest_event_groups, the intake's one call for several groups (a provider with its limits,
 * e.g. one WhatsApp number): it must answer and store exactly what calling ingest_events
 * once per group, in order, would. A property test runs both on the same generated groups,
 * each in its own namespace of provider names and bucket keys, after the same history, and
 * compares the outcomes and what each left in inbound_events, jobs and rate_limits.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { useMigratedDatabase } from './support/migrated.ts';
import { sqlState } from './support/rls.ts';

const database = useMigratedDatabase();

interface Group {
  readonly provider: string;
  readonly limits: {
    readonly global?: { key: string; capacity: number; refill_per_second: number } | null;
    readonly sender?: { capacity: number; refill_per_second: number } | null;
  };
  readonly events: readonly {
    slot: number;
    key: string;
    type: string;
    kind: string;
    sender: string | null;
    payload: unknown;
    request_id: string;
  }[];
}

type Row = {
  part: number;
  slot: number;
  outcome: string;
  event_id: string | null;
  job_id: string | null;
};

/**
 * A refill this slow (a token every 1,000 s) leaves every bucket within a hundredth of a
 * token of what the calls left for the whole test.
 */
const STILL = 1e-3;

function groups(
  ...specs: {
    provider: string;
    global?: { key: string; capacity: number } | null;
    sender?: number | null;
    events: [key: string, sender: string | null][];
  }[]
): Group[] {
  return specs.map((spec) => ({
    provider: spec.provider,
    limits: {
      global: spec.global ? { ...spec.global, refill_per_second: STILL } : null,
      sender: spec.sender ? { capacity: spec.sender, refill_per_second: STILL } : null,
    },
    events: spec.events.map(([key, sender], slot) => ({
      slot,
      key,
      type: 'message',
      kind: 'test.message',
      sender,
      payload: { key },
      request_id: `req-${slot}`,
    })),
  }));
}

const together = (input: readonly Group[]) =>
  database.db.query<Row>('select * from ingest_event_groups($1::jsonb)', [input]);

async function oneByOne(input: readonly Group[]): Promise<Row[]> {
  // ingest_events once per group, in order, in one transaction: what the call promises.
  return await database.db.transaction(async (tx) => {
    const rows: Row[] = [];
    for (const [part, group] of input.entries()) {
      const answer = await tx.query<Omit<Row, 'part'>>(
        'select * from ingest_events($1, $2::jsonb, $3::jsonb)',
        [group.provider, group.events, group.limits],
      );
      rows.push(...answer.map((row) => ({ part, ...row })));
    }
    return rows;
  });
}

/** The groups with every provider name and bucket key under `space`. */
function within(space: string, input: readonly Group[]): Group[] {
  return input.map((group) => ({
    ...group,
    provider: `${space}${group.provider}`,
    limits: {
      ...group.limits,
      global: group.limits.global &&
        { ...group.limits.global, key: `${space}${group.limits.global.key}` },
    },
  }));
}

/** What an answer says, without the ids (each namespace has its own). */
const said = (rows: readonly Row[]) =>
  rows.map((row) => ({
    part: row.part,
    slot: row.slot,
    outcome: row.outcome,
    stored: row.event_id !== null,
    job: row.job_id !== null,
  }));

/** What the calls left behind in namespace `space`, names stripped of it. */
async function leftIn(space: string) {
  const strip = (text: string) => text.split(space).join('');
  const events = await database.db.query<{ provider: string; event_key: string; status: string }>(
    `select provider, event_key, status from inbound_events
      where starts_with(provider, $1) order by provider, event_key`,
    [space],
  );
  const jobs = await database.db.query<{ queue: string; dedupe_key: string; kind: string }>(
    `select queue, dedupe_key, kind from jobs where starts_with(queue, $1) order by dedupe_key`,
    [space],
  );
  const buckets = await database.db.query<{ key: string; tokens: number }>(
    `select key, floor(tokens)::int as tokens from rate_limits
      where starts_with(key, $1) order by key`,
    [space],
  );
  return {
    events: events.map((e) => ({ ...e, provider: strip(e.provider) })),
    jobs: jobs.map((j) => ({ ...j, queue: strip(j.queue), dedupe_key: strip(j.dedupe_key) })),
    buckets: buckets.map((b) => ({ ...b, key: strip(b.key) })),
  };
}

describe('ingest_event_groups', () => {
  it('stores several groups in one call, each answered under its part', async () => {
    const rows = await together(groups(
      { provider: 'wa', global: { key: 'wa:n1', capacity: 10 }, sender: 5, events: [['m1', '+1']] },
      {
        provider: 'wa',
        global: { key: 'wa:n2', capacity: 10 },
        sender: 5,
        events: [['m2', '+1'], ['m1', '+2']],
      },
      { provider: 'stripe', global: { key: 'stripe', capacity: 10 }, events: [['m1', null]] },
    ));
    expect(said(rows)).toEqual([
      { part: 0, slot: 0, outcome: 'accepted', stored: true, job: true },
      { part: 1, slot: 0, outcome: 'accepted', stored: true, job: true },
      // The same key under the same provider in another group is the same event.
      { part: 1, slot: 1, outcome: 'duplicate', stored: false, job: false },
      // Another provider's key space.
      { part: 2, slot: 0, outcome: 'accepted', stored: true, job: true },
    ]);
    const buckets = await database.db.query<{ key: string; tokens: number }>(
      `select key, round(tokens::numeric)::int as tokens from rate_limits
        where key in ('wa:n1', 'wa:n2', 'stripe', 'wa:sender:+1', 'wa:sender:+2') order by key`,
    );
    // Each number paid for what its group stored; the duplicate cost nothing.
    expect(buckets).toEqual([
      { key: 'stripe', tokens: 9 },
      { key: 'wa:n1', tokens: 9 },
      { key: 'wa:n2', tokens: 9 },
      { key: 'wa:sender:+1', tokens: 3 },
    ]);
  });

  it('throttles only the group whose bucket is short, and stores nothing of it', async () => {
    // 'th:short' holds one of its three tokens: two events are more than it has.
    await database.db.query(`select * from rate_limit_take('th:short', 3, $1, 2)`, [STILL]);
    const input = groups(
      { provider: 'th', global: { key: 'th:full', capacity: 5 }, events: [['a', null]] },
      {
        provider: 'th',
        global: { key: 'th:short', capacity: 3 },
        events: [['b', null], ['c', null]],
      },
    );
    const rows = await together(input);
    expect(rows.map((row) => [row.part, row.outcome])).toEqual([
      [0, 'accepted'],
      [1, 'throttled'],
      [1, 'throttled'],
    ]);
    const stored = await database.db.query<{ event_key: string }>(
      `select event_key from inbound_events where provider = 'th' order by event_key`,
    );
    expect(stored.map((row) => row.event_key)).toEqual(['a']);
  });

  it('refuses what only our code could send wrong', async () => {
    expect(await sqlState(() => database.db.query(`select * from ingest_event_groups('{}')`)))
      .toBe('22023');
    expect(
      await sqlState(() =>
        database.db.query(`select * from ingest_event_groups('[{"provider": "x"}]')`)
      ),
    ).toBe('22023');
    const nonsense = groups({
      provider: 'bad',
      global: { key: 'bad', capacity: 0 },
      events: [['k', null]],
    });
    expect(await sqlState(() => together(nonsense))).toBe('22023');
    expect(await together([])).toEqual([]);
  });

  it('answers and stores what ingest_events once per group would', async () => {
    const provider = fc.constantFrom('p1', 'p2');
    const group = fc.record({
      provider,
      number: fc.constantFrom('n1', 'n2', 'n3', null),
      capacity: fc.constantFrom(1, 2, 3, 100),
      sender: fc.constantFrom(1, 2, 100, null),
      events: fc.array(
        fc.tuple(
          fc.constantFrom('k1', 'k2', 'k3', 'k4', 'k5', 'k6'),
          fc.constantFrom('+1', '+2', null),
        ),
        { minLength: 1, maxLength: 5 },
      ),
    });
    type Spec = typeof group extends fc.Arbitrary<infer T> ? T : never;
    // Half the calls give every group one sender limit (the set-based pass); the others may
    // mix limits (rolled back to one group at a time), as may a short provider bucket.
    const call = fc.tuple(fc.array(group, { minLength: 1, maxLength: 5 }), fc.boolean());
    const asGroups = ([specs, shareSenderLimit]: [Spec[], boolean]) =>
      groups(...specs.map((spec) => ({
        provider: spec.provider,
        global: spec.number
          ? { key: `${spec.provider}:${spec.number}`, capacity: spec.capacity }
          : null,
        sender: shareSenderLimit ? (specs[0]!.sender ?? 2) : spec.sender,
        events: spec.events,
      })));
    let run = 0;
    await fc.assert(
      fc.asyncProperty(call, call, async (history, now) => {
        run += 1;
        const [mine, theirs] = [`g${run}-`, `s${run}-`];
        // The same history in both namespaces: stored keys, part-spent buckets.
        await oneByOne(within(mine, asGroups(history)));
        await oneByOne(within(theirs, asGroups(history)));
        const got = await together(within(mine, asGroups(now)));
        const want = await oneByOne(within(theirs, asGroups(now)));
        expect(said(got)).toEqual(said(want));
        expect(await leftIn(mine)).toEqual(await leftIn(theirs));
      }),
      { numRuns: 60 },
    );
  });
});
