/**
 * Health checks: small probes that each answer ok / degraded / down with details.
 * The health function runs them; later modules (queue, webhooks) add their own.
 */
export type HealthStatus = 'ok' | 'degraded' | 'down';

export interface HealthCheckResult {
  readonly status: HealthStatus;
  /** Extra, non-secret details shown in `/health` (latency, depth, pending names...). */
  readonly [detail: string]: unknown;
}

export interface HealthCheck {
  /** Key under `checks` in the `/health` body, e.g. `database`. */
  readonly name: string;
  /** True when a `down` result makes `/health` itself `down` (503), not just degraded. */
  readonly critical: boolean;
  run(): Promise<HealthCheckResult>;
}

export interface HealthReport {
  readonly status: HealthStatus;
  readonly checks: Readonly<Record<string, HealthCheckResult>>;
}

const SEVERITY: Record<HealthStatus, number> = { ok: 0, degraded: 1, down: 2 };

export function worstStatus(statuses: Iterable<HealthStatus>): HealthStatus {
  let worst: HealthStatus = 'ok';
  for (const status of statuses) if (SEVERITY[status] > SEVERITY[worst]) worst = status;
  return worst;
}

/** Resolves `promise`, or rejects with a timeout error after `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Runs every check concurrently, each bounded by `timeoutMs`; a check that throws or
 * times out counts as `down` (its error is reported to `onError`, never to the client).
 */
export async function runHealthChecks(
  checks: readonly HealthCheck[],
  options: { timeoutMs: number; onError?: (check: string, error: unknown) => void },
): Promise<HealthReport> {
  const entries = await Promise.all(
    checks.map(async (check): Promise<[string, HealthCheckResult]> => {
      try {
        return [check.name, await withTimeout(check.run(), options.timeoutMs, check.name)];
      } catch (error) {
        options.onError?.(check.name, error);
        return [check.name, { status: 'down', error: 'check failed' }];
      }
    }),
  );
  const results = Object.fromEntries(entries);
  return { status: worstStatus(entries.map(([, result]) => result.status)), checks: results };
}

/**
 * The status a report of `checks` stands for: `down` only when a critical check is down,
 * so load balancers act on the same signal as readiness; a non-critical check down makes
 * it `degraded`.
 */
export function overallStatus(
  checks: readonly HealthCheck[],
  report: HealthReport,
): HealthStatus {
  const criticalDown = checks.some((check) =>
    check.critical && report.checks[check.name]?.status === 'down'
  );
  if (criticalDown) return 'down';
  return report.status === 'down' ? 'degraded' : report.status;
}
