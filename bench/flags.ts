/**
 * Targeted feature-flag evaluation (`evaluateFlag`) in process, beside its ceiling in the
 * same run:
 *
 *   subject  evaluateFlag on the flag's row: a kill-switched flag, one on for everyone, a
 *            25 % rollout, one targeted at groups and environments, one with a minimum app
 *            version;
 *   counted  the same, each evaluation also counted in `gatehouse_flag_evaluations_total`
 *            as the flag reader counts it (`countFlagEvaluations`);
 *   ceiling  the same loop reading the same rows from the same Map and checking one boolean,
 *            what a plain on/off switch costs.
 *
 *   npm run bench:flags                       # 2 s per round after 0.5 s warm-up, 3 rounds
 *   npm run bench:flags -- --seconds 4 --rounds 5 --warmup 1
 *
 * 10,000 subjects (random UUIDs, some in groups, a spread of app versions) are generated
 * first; each pass evaluates every flag for every subject, passes repeat until the round's
 * time is up. One thread, no I/O. Prints evaluations per second and ns per evaluation per
 * subject and round (alternating), the median ceiling / subject ratio, and whether the
 * subject and the counted evaluation meet the target of 2,000,000 evaluations per second.
 * Every answer is checked against the flags' rules first, every pass's count of "on"
 * against those answers, and after each counted round what the registry hands over against
 * the evaluations made, or the run fails.
 */
import {
  compareSemver,
  evaluateFlag,
  FLAG_RULE_DEFAULTS,
  type FlagContext,
  type FlagRule,
} from '../functions/_shared/flags/evaluate.ts';
import { countFlagEvaluations } from '../functions/_shared/flags/count.ts';
import { gatehouseMetrics } from '../functions/_shared/metrics/catalog.ts';
import { createMetrics } from '../functions/_shared/metrics/registry.ts';

const args = new Map<string, string>();
for (let i = 0; i < Deno.args.length; i += 2) args.set(Deno.args[i]!, Deno.args[i + 1] ?? '');
const SECONDS = Number(args.get('--seconds') ?? 2);
const ROUNDS = Number(args.get('--rounds') ?? 3);
const WARMUP = Number(args.get('--warmup') ?? 0.5);
const SUBJECTS = 10_000;
const TARGET = 2_000_000;

const rule = (key: string, fields: Partial<FlagRule>): FlagRule => ({
  ...FLAG_RULE_DEFAULTS,
  key,
  ...fields,
});
const RULES = new Map<string, FlagRule>(
  [
    rule('payments.legacy', { enabled: false, rollout_percent: 50, groups: ['staff'] }),
    rule('intake.whatsapp', {}),
    rule('rides.pooling', { rollout_percent: 25 }),
    rule('ops.dashboard', { groups: ['staff', 'beta'], environments: ['production', 'staging'] }),
    rule('checkout.v2', { min_app_version: '2.3.0' }),
  ].map((flag) => [flag.key, flag]),
);
const KEYS = [...RULES.keys()];

const VERSIONS = ['2.1.4', '2.2.0', '2.3.0', '2.3.1', '2.4.0-beta.2', '3.0.0', null];
const GROUPS = [[], [], [], ['drivers'], ['drivers', 'beta'], ['staff']];
const CONTEXTS: FlagContext[] = Array.from({ length: SUBJECTS }, (_, i) => ({
  subject: crypto.randomUUID(),
  groups: GROUPS[i % GROUPS.length]!,
  environment: 'production',
  appVersion: VERSIONS[i % VERSIONS.length]!,
}));

/** One pass: every flag for every subject; the count of "on" keeps the work observable. */
function evaluatePass(): number {
  let on = 0;
  for (let i = 0; i < CONTEXTS.length; i += 1) {
    const context = CONTEXTS[i]!;
    for (let f = 0; f < KEYS.length; f += 1) {
      if (evaluateFlag(RULES.get(KEYS[f]!)!, context).on) on += 1;
    }
  }
  return on;
}

const registry = createMetrics();
const count = countFlagEvaluations(gatehouseMetrics(registry).flagEvaluations);

/** A pass of `evaluatePass`, each evaluation counted as the flag reader counts it. */
function countedPass(): number {
  let on = 0;
  for (let i = 0; i < CONTEXTS.length; i += 1) {
    const context = CONTEXTS[i]!;
    for (let f = 0; f < KEYS.length; f += 1) {
      const key = KEYS[f]!;
      const answer = evaluateFlag(RULES.get(key)!, context).on;
      count(key, answer);
      if (answer) on += 1;
    }
  }
  return on;
}

/** What the registry hands over (as a flush would) against `passes` counted passes. */
function checkCounted(passes: number): void {
  let on = 0;
  let all = 0;
  for (const delta of registry.drain()) {
    all += delta.value;
    if (delta.labels.result === 'on') on += delta.value;
  }
  check(
    `counted ${all} evaluations (${on} on), made ${passes * CONTEXTS.length * KEYS.length} ` +
      `(${passes * expectedOn} on)`,
    all === passes * CONTEXTS.length * KEYS.length && on === passes * expectedOn,
  );
}

function ceilingPass(): number {
  let on = 0;
  for (let i = 0; i < CONTEXTS.length; i += 1) {
    const context = CONTEXTS[i]!;
    for (let f = 0; f < KEYS.length; f += 1) {
      if (RULES.get(KEYS[f]!)!.enabled && context.subject !== undefined) on += 1;
    }
  }
  return on;
}

// The answers, checked against the rules before anything is timed.
let failed = false;
const check = (what: string, ok: boolean) => {
  if (!ok) {
    failed = true;
    console.log(`FAIL ${what}`);
  }
};
const ons = (key: string) =>
  CONTEXTS.filter((context) => evaluateFlag(RULES.get(key)!, context).on).length;
check('kill-switched flag is off for everyone', ons('payments.legacy') === 0);
check('flag without targeting is on for everyone', ons('intake.whatsapp') === SUBJECTS);
const pooled = (ons('rides.pooling') / SUBJECTS) * 100;
check(`25 % rollout reaches 25 ± 2 % (${pooled.toFixed(1)} %)`, Math.abs(pooled - 25) <= 2);
check(
  'group-targeted flag is on for exactly the staff and beta subjects',
  ons('ops.dashboard') ===
    CONTEXTS.filter((c) => c.groups!.some((g) => g === 'staff' || g === 'beta')).length,
);
check(
  'minimum-version flag is on for exactly the subjects at 2.3.0 or later',
  ons('checkout.v2') ===
    CONTEXTS.filter((c) => c.appVersion != null && compareSemver(c.appVersion, '2.3.0')! >= 0)
      .length,
);
const expectedOn = evaluatePass();
const expectedCeiling = ceilingPass();

const PASSES: Record<
  string,
  { pass: () => number; expected: number; after?: (passes: number) => void }
> = {
  'evaluateFlag (subject)': { pass: evaluatePass, expected: expectedOn },
  'evaluateFlag + count': { pass: countedPass, expected: expectedOn, after: checkCounted },
  'Map.get + boolean (ceiling)': { pass: ceilingPass, expected: expectedCeiling },
};

/** Passes until `seconds` are up; evaluations per second. */
function run(name: string, seconds: number): number {
  const { pass, expected, after } = PASSES[name]!;
  const perPass = CONTEXTS.length * KEYS.length;
  let evaluations = 0;
  let passes = 0;
  const started = performance.now();
  const until = started + seconds * 1000;
  let now = started;
  do {
    const on = pass();
    if (on !== expected) {
      failed = true;
      console.log(`FAIL ${name}: a pass answered ${on} on, expected ${expected}`);
    }
    evaluations += perPass;
    passes += 1;
    now = performance.now();
  } while (now < until);
  after?.(passes);
  return evaluations / ((now - started) / 1000);
}

console.log(
  `flags benchmark: ${KEYS.length} flags x ${SUBJECTS.toLocaleString('en')} subjects, ` +
    `${SECONDS} s per round after ${WARMUP} s warm-up, ${ROUNDS} rounds, one thread`,
);
for (const name of Object.keys(PASSES)) run(name, WARMUP);
console.log(
  'subject'.padEnd(30) + 'round'.padStart(6) + 'evaluations/s'.padStart(16) + 'ns/eval'.padStart(9),
);
const rates: Record<string, number[]> = {};
for (let round = 1; round <= ROUNDS; round += 1) {
  const order = Object.keys(PASSES);
  if (round % 2 === 0) order.reverse();
  for (const name of order) {
    const rate = run(name, SECONDS);
    (rates[name] ??= []).push(rate);
    console.log(
      name.padEnd(30) + String(round).padStart(6) +
        Math.round(rate).toLocaleString('en').padStart(16) + (1e9 / rate).toFixed(1).padStart(9),
    );
  }
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;
const [subject, counted, ceiling] = Object.keys(PASSES).map((name) => rates[name]!);
const ratios = subject!.map((rate, i) => ceiling![i]! / rate).sort((a, b) => a - b);
const rate = median(subject!);
const countedRate = median(counted!);
console.log(
  `\nevaluateFlag: ${Math.round(rate).toLocaleString('en')} evaluations/s (median), ` +
    `ceiling ${Math.round(median(ceiling!)).toLocaleString('en')}/s, ceiling / subject ` +
    `${median(ratios).toFixed(2)}x (rounds: ${ratios.map((r) => r.toFixed(2)).join(', ')})`,
);
console.log(
  `evaluateFlag + count: ${Math.round(countedRate).toLocaleString('en')} evaluations/s ` +
    `(median), ${(1e9 / countedRate - 1e9 / rate).toFixed(1)} ns per evaluation for counting`,
);
const met = rate >= TARGET && countedRate >= TARGET;
console.log(
  `target >= ${TARGET.toLocaleString('en')} evaluations/s, counted too: ` +
    `${met ? 'met' : 'NOT met'}`,
);
if (failed) Deno.exit(1);
