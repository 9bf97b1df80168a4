/**
 * Metric recording in process, beside its ceiling in the same run:
 *
 *   subject  the catalog's recorders as intake and the request log call them per request:
 *            `gatehouse_http_requests_total` (4 labels), the request-duration histogram
 *            (2 labels, 12 bounds) and `gatehouse_webhook_events_total` (2 labels), over
 *            a realistic spread of label values (5 providers, 6 routes, 4 statuses);
 *   ceiling  the same loop adding the same numbers into one plain object's fields: what
 *            recording costs with no labels and no series to find.
 *
 *   npm run bench:metrics                       # 1 s per round after 0.5 s warm-up, 3 rounds
 *   npm run bench:metrics -- --seconds 2 --rounds 5
 *
 * Prints ns per recording call for subject and ceiling per round (alternating), the median
 * subject / ceiling ratio, and whether the subject meets the target of at most 1 µs (1,000
 * ns) per call. The registry is drained after every round and its totals checked against
 * the calls made, or the run fails.
 */
import { gatehouseMetrics } from '../functions/_shared/metrics/catalog.ts';
import { createMetrics } from '../functions/_shared/metrics/registry.ts';

const args = new Map<string, string>();
for (let i = 0; i < Deno.args.length; i += 2) args.set(Deno.args[i]!, Deno.args[i + 1] ?? '');
const SECONDS = Number(args.get('--seconds') ?? 1);
const ROUNDS = Number(args.get('--rounds') ?? 3);
const WARMUP = Number(args.get('--warmup') ?? 0.5);
const TARGET_NS = 1_000;

const PROVIDERS = ['whatsapp', 'stripe', 'paypal', 'standard:billing', 'ussd'];
const ROUTES = [
  '/webhooks/whatsapp',
  '/webhooks/stripe',
  '/webhooks/paypal',
  '/webhooks/standard/:source',
  '/webhooks/ussd',
  '/health/live',
];
const STATUSES = [200, 200, 200, 401, 429, 503];
const OUTCOMES = ['accepted', 'accepted', 'duplicate'];
const CALLS_PER_REQUEST = 3;

const registry = createMetrics();
const record = gatehouseMetrics(registry);

function subjectPass(n: number): void {
  for (let i = 0; i < n; i++) {
    const route = ROUTES[i % ROUTES.length]!;
    record.httpRequests.inc({
      function: 'webhooks',
      route,
      method: 'POST',
      status: STATUSES[i % STATUSES.length]!,
    });
    record.httpDuration.observe({ function: 'webhooks', route }, (i % 200) / 1000);
    record.webhookEvents.inc({
      provider: PROVIDERS[i % PROVIDERS.length]!,
      outcome: OUTCOMES[i % OUTCOMES.length]!,
    });
  }
}

const plain = { requests: 0, durations: 0, events: 0 };
function ceilingPass(n: number): void {
  for (let i = 0; i < n; i++) {
    plain.requests += STATUSES[i % STATUSES.length]! > 0 ? 1 : 0;
    plain.durations += (i % 200) / 1000;
    plain.events += OUTCOMES[i % OUTCOMES.length]!.length > 0 ? 1 : 0;
  }
}

/** Calls per second of `pass`, run in chunks until `seconds` are up; returns ns per call. */
function measure(pass: (n: number) => void, seconds: number): { ns: number; requests: number } {
  const chunk = 10_000;
  let requests = 0;
  const started = performance.now();
  const until = started + seconds * 1000;
  while (performance.now() < until) {
    pass(chunk);
    requests += chunk;
  }
  const elapsedNs = (performance.now() - started) * 1e6;
  return { ns: elapsedNs / (requests * CALLS_PER_REQUEST), requests };
}

function checkTotals(requests: number): void {
  const deltas = registry.drain();
  const sum = (name: string, field: 'value' | 'count') =>
    deltas.filter((d) => d.name === name).reduce((total, d) => total + d[field], 0);
  const got = [
    sum('gatehouse_http_requests_total', 'value'),
    sum('gatehouse_http_request_duration_seconds', 'count'),
    sum('gatehouse_webhook_events_total', 'value'),
  ];
  if (got.some((n) => n !== requests)) {
    throw new Error(`recorded ${got.join('/')} for ${requests} requests`);
  }
}

measure(subjectPass, WARMUP);
registry.drain();
measure(ceilingPass, WARMUP);

const ratios: number[] = [];
const subjects: number[] = [];
console.log('round  subject ns/call  ceiling ns/call  subject/ceiling');
for (let round = 1; round <= ROUNDS; round++) {
  const subject = measure(subjectPass, SECONDS);
  checkTotals(subject.requests);
  const ceiling = measure(ceilingPass, SECONDS);
  ratios.push(subject.ns / ceiling.ns);
  subjects.push(subject.ns);
  console.log(
    `${String(round).padStart(5)}  ${subject.ns.toFixed(1).padStart(15)}  ${
      ceiling.ns.toFixed(1).padStart(15)
    }  ${(subject.ns / ceiling.ns).toFixed(1).padStart(15)}`,
  );
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const worst = Math.max(...subjects);
console.log(
  `median subject/ceiling ${median(ratios).toFixed(1)}x; slowest round ${
    worst.toFixed(1)
  } ns per call; target <= ${TARGET_NS} ns: ${worst <= TARGET_NS ? 'met' : 'NOT met'}`,
);
if (plain.requests < 0) console.log(plain); // keeps the ceiling's work observable
