import type { Queryable } from '../db/types.ts';
import type { HealthCheck, HealthCheckResult } from '../health/index.ts';
import { CATALOG } from '../metrics/catalog.ts';
import type { WebhookEndpoint } from './provider.ts';
import { SIGNATURE_FAILURES } from './types.ts';

/** The window `/health` reports intake over. */
export const WEBHOOKS_HEALTH_WINDOW_MINUTES = 15;
/**
 * Signature refusals in the window from which a provider is reported degraded when they are
 * at least half of its deliveries: the pattern of a secret that does not match (rotated on
 * one side only, or the wrong one set), not of a stray forged request.
 */
export const SIGNATURE_REFUSALS_DEGRADED = 5;

/** Refusal reasons that say the signature (or the secret behind it) did not hold. */
const SIGNATURE_REASONS: ReadonlySet<string> = new Set(SIGNATURE_FAILURES);

export interface ProviderIntake {
  readonly provider: string;
  /** The route under `/webhooks`, secrets as `<VARIABLE>` placeholders. */
  readonly path: string;
  /** False when the route refuses every delivery for want of `missing`. */
  readonly configured: boolean;
  readonly missing?: string;
  /** Deliveries received, events stored and refusals by reason, over the window. */
  readonly received: number;
  readonly stored: number;
  readonly refused: Readonly<Record<string, number>>;
  /** Why this provider makes the check degraded, when it does. */
  readonly problem?: string;
}

type CountRow = {
  name: string;
  provider: string | null;
  outcome: string | null;
  reason: string | null;
  n: number;
};

/**
 * The `webhooks` check of `/health`: each intake route the config serves, whether it can
 * accept anything (a route lacking its secret refuses every delivery), and what arrived
 * over the last {@link WEBHOOKS_HEALTH_WINDOW_MINUTES} minutes as the metrics recorded it
 * (deliveries, events stored, refusals by reason). `degraded` when a provider's deliveries
 * are mostly refused for their signature ({@link SIGNATURE_REFUSALS_DEGRADED} or more, and
 * at least half): its secret and the provider's no longer match. Never `down`: intake
 * itself answers for the database through the other checks. With metrics switched off
 * the counts are absent and only the routes are reported.
 *
 * @example
 * checks: [webhooksCheck(db.probe(1_000), webhookEndpoints(config), { metrics: true })]
 */
export function webhooksCheck(
  db: Queryable,
  endpoints: readonly WebhookEndpoint[],
  options: { readonly metrics: boolean },
): HealthCheck {
  return {
    name: 'webhooks',
    critical: false,
    async run(): Promise<HealthCheckResult> {
      const rows = options.metrics ? await intakeCounts(db) : [];
      const providers = endpoints.map((endpoint) => providerIntake(endpoint, rows));
      const problems = providers.filter((provider) => provider.problem !== undefined);
      return {
        status: problems.length > 0 ? 'degraded' : 'ok',
        ...(problems.length > 0
          ? { reason: problems.map((p) => `${p.provider}: ${p.problem}`).join('; ') }
          : {}),
        window_minutes: WEBHOOKS_HEALTH_WINDOW_MINUTES,
        counts: options.metrics ? 'recorded' : 'metrics off',
        providers,
      };
    },
  };
}

function providerIntake(endpoint: WebhookEndpoint, rows: readonly CountRow[]): ProviderIntake {
  const mine = rows.filter((row) => row.provider === endpoint.provider);
  const sum = (name: string, keep: (row: CountRow) => boolean = () => true) =>
    mine.filter((row) => row.name === name && keep(row)).reduce((n, row) => n + row.n, 0);
  const refused: Record<string, number> = {};
  for (const row of mine) {
    if (row.name !== CATALOG.webhookRejected.name || row.reason === null) continue;
    refused[row.reason] = (refused[row.reason] ?? 0) + row.n;
  }
  const received = sum(CATALOG.webhookRequests.name);
  const signature = Object.entries(refused)
    .filter(([reason]) => SIGNATURE_REASONS.has(reason))
    .reduce((n, [, count]) => n + count, 0);
  const problem = signature >= SIGNATURE_REFUSALS_DEGRADED && signature * 2 >= received
    ? `${signature} of ${received} deliveries refused for their signature: check the secret`
    : undefined;
  return {
    provider: endpoint.provider,
    path: endpoint.path,
    configured: endpoint.missing === undefined,
    ...(endpoint.missing === undefined ? {} : { missing: endpoint.missing }),
    received,
    stored: sum(CATALOG.webhookEvents.name, (row) => row.outcome === 'accepted'),
    refused,
    ...(problem ? { problem } : {}),
  };
}

/** The intake counters' increases over the window, by provider (and outcome or reason). */
async function intakeCounts(db: Queryable): Promise<CountRow[]> {
  const rows = await db.query<CountRow>(
    `select m.name, m.labels ->> 'provider' as provider, m.labels ->> 'outcome' as outcome,
            m.labels ->> 'reason' as reason, sum(m.value)::float8 as n
       from public.system_metrics m
      where m.name in ($1::text, $2::text, $3::text) and m.width = interval '1 minute'
        and m.bucket >= date_trunc('minute', now()) - make_interval(mins => $4::int)
      group by 1, 2, 3, 4`,
    [
      CATALOG.webhookRequests.name,
      CATALOG.webhookEvents.name,
      CATALOG.webhookRejected.name,
      WEBHOOKS_HEALTH_WINDOW_MINUTES,
    ],
  );
  return rows.map((row) => ({ ...row, n: Number(row.n) }));
}
