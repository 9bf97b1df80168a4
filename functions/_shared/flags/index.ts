import type { AppFlag } from '../app.ts';
import type { Clock } from '../clock.ts';
import type { Queryable } from '../db/types.ts';
import type { GatehouseMetrics } from '../metrics/catalog.ts';
import { countFlagEvaluations } from './count.ts';
import {
  evaluateFlag,
  FLAG_RULE_DEFAULTS,
  type FlagContext,
  type FlagEvaluation,
  type FlagRule,
} from './evaluate.ts';

export { countFlagEvaluations, type FlagEvaluationCounter } from './count.ts';
export {
  compareSemver,
  evaluateFlag,
  FLAG_RULE_DEFAULTS,
  type FlagContext,
  type FlagEvaluation,
  type FlagReason,
  type FlagRule,
  murmur3,
  rolloutBucket,
} from './evaluate.ts';

/**
 * How old a snapshot may be before the flags' version is checked again; an operator's SQL
 * update shows within this and one query.
 */
export const FLAG_MAX_AGE_MS = 1_000;
/**
 * How long a caller holding a stale snapshot waits for its refresh before it answers from
 * the stale one: a slow database then costs a delivery this much, not its whole deadline.
 */
export const FLAG_REFRESH_WAIT_MS = 250;

export interface FlagReader {
  /**
   * Whether `key` is on for no one in particular, in this instance's environment: what
   * platform switches (`intake.stripe`) ask. A flag rolled out to part of its subjects,
   * or limited to groups, is off here. A flag with no row is enabled.
   */
  isEnabled(key: string): Promise<boolean>;
  /** `key` evaluated for `context` (see `evaluateFlag`), and the rule that decided. */
  evaluate(key: string, context?: FlagContext): Promise<FlagEvaluation>;
  /** Every flag there is a row or a declared default for, evaluated for `context`. */
  all(context?: FlagContext): Promise<Record<string, boolean>>;
}

export interface FlagReaderOptions {
  readonly clock: Clock;
  readonly maxAgeMs?: number;
  /** What a flag with no row answers, by key (the app's declared flags); else enabled. */
  readonly defaults?: Readonly<Record<string, boolean>>;
  /** This instance's environment (`GATEHOUSE_ENV`), for flags limited to environments. */
  readonly environment?: string;
  /** Called when a refresh fails and a stale snapshot is used instead. */
  readonly onStale?: (error: unknown) => void;
  /**
   * Where every evaluation is counted by flag and result (`gatehouse_flag_evaluations_total`;
   * `all` counts one per flag it answers); none: nothing is counted.
   */
  readonly metrics?: Pick<GatehouseMetrics, 'flagEvaluations'>;
}

interface Snapshot {
  /** When the query that produced or confirmed it started. */
  readonly loadedAt: number;
  /** `gatehouse.feature_flags_version` when the rows were read. */
  readonly version: string;
  readonly rules: Map<string, FlagRule>;
}

interface FlagRow extends Record<string, unknown> {
  version: string;
  key: string | null;
  enabled: boolean;
  rollout_percent: number;
  groups: string[];
  environments: string[];
  min_app_version: string | null;
}

/**
 * Reads `feature_flags` through a per-instance snapshot. At most every `maxAgeMs` it asks
 * the database one cheap question, whether the flags' version (bumped by every committed
 * change, `gatehouse.feature_flags_version`) moved, and reads the rows again only when it
 * did; concurrent callers share one refresh. If a refresh fails, or takes longer than
 * {@link FLAG_REFRESH_WAIT_MS}, the last snapshot keeps answering (a failure is reported
 * through `onStale`); with no snapshot at all the caller waits for the refresh and its error
 * propagates, so callers answer 503 rather than guess. Evaluation itself is in process
 * (`evaluateFlag`): no query per request.
 *
 * @example
 * const flags = createFlagReader(db, { clock: systemClock, environment: config.env });
 * if (!(await flags.isEnabled('intake.stripe'))) throw new ProblemError(503);
 * const { on } = await flags.evaluate('rides.pooling', { subject: user.id, groups: [user.role] });
 */
export function createFlagReader(db: Queryable, options: FlagReaderOptions): FlagReader {
  const maxAgeMs = options.maxAgeMs ?? FLAG_MAX_AGE_MS;
  let snapshot: Snapshot | undefined;
  let refreshing: Promise<Snapshot> | undefined;

  async function load(): Promise<Snapshot> {
    const startedAt = options.clock.now();
    const rows = await db.query<FlagRow>(
      `select v.version::text as version, f.key, f.enabled, f.rollout_percent, f.groups,
              f.environments, f.min_app_version
         from gatehouse.feature_flags_version v
         left join public.feature_flags f on true`,
    );
    const rules = new Map<string, FlagRule>();
    for (const row of rows) {
      if (row.key === null) continue;
      rules.set(row.key, {
        key: row.key,
        enabled: row.enabled,
        rollout_percent: row.rollout_percent,
        groups: row.groups,
        environments: row.environments,
        min_app_version: row.min_app_version,
      });
    }
    // Stamped with the time the query started: the snapshot is at least that fresh.
    return { loadedAt: startedAt, version: rows[0]?.version ?? '', rules };
  }

  /** The rows again if the version moved since `last`, else `last` confirmed as fresh. */
  async function refresh(last: Snapshot | undefined): Promise<Snapshot> {
    if (last !== undefined) {
      const startedAt = options.clock.now();
      const [row] = await db.query<{ version: string }>(
        'select version::text as version from gatehouse.feature_flags_version',
      );
      if (row?.version === last.version) return { ...last, loadedAt: startedAt };
    }
    return await load();
  }

  /** The snapshot's rules while fresh; undefined once a refresh is due. */
  function fresh(): Map<string, FlagRule> | undefined {
    return snapshot && options.clock.now() - snapshot.loadedAt < maxAgeMs
      ? snapshot.rules
      : undefined;
  }

  async function current(): Promise<Map<string, FlagRule>> {
    const rules = fresh();
    if (rules) return rules;
    if (!refreshing) {
      const started = refresh(snapshot).then((fresh) => (snapshot = fresh)).finally(() =>
        refreshing = undefined
      );
      // Reported once per failed refresh, whoever waited for it.
      started.catch((error) => {
        if (snapshot) options.onStale?.(error);
      });
      refreshing = started;
    }
    const pending = refreshing;
    if (!snapshot) return (await pending).rules;
    const last = snapshot;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waited = new Promise<Snapshot>((resolve) => {
      timer = setTimeout(() => resolve(last), FLAG_REFRESH_WAIT_MS);
    });
    try {
      return (await Promise.race([pending, waited])).rules;
    } catch {
      return last.rules;
    } finally {
      clearTimeout(timer);
    }
  }

  const defaults = options.defaults ?? {};
  const ruleOf = (rules: Map<string, FlagRule>, key: string): FlagRule =>
    rules.get(key) ?? {
      ...FLAG_RULE_DEFAULTS,
      key,
      enabled: Object.hasOwn(defaults, key) ? defaults[key]! : true,
    };
  // No one in particular, here: built once, since intake asks it on every delivery.
  const instance: FlagContext = options.environment === undefined
    ? {}
    : { environment: options.environment };
  const withEnvironment = (context: FlagContext | undefined): FlagContext =>
    context === undefined
      ? instance
      : context.environment !== undefined || options.environment === undefined
      ? context
      : { ...context, environment: options.environment };

  const count = options.metrics ? countFlagEvaluations(options.metrics.flagEvaluations) : null;
  /** Evaluates `key` from `rules` for `context`, counted. */
  const evaluated = (rules: Map<string, FlagRule>, key: string, context: FlagContext) => {
    const answer = evaluateFlag(ruleOf(rules, key), context);
    count?.(key, answer.on);
    return answer;
  };

  return {
    isEnabled(key) {
      // Answered from a fresh snapshot without an async function's frame: intake asks on
      // every delivery.
      const rules = fresh();
      if (rules) return Promise.resolve(evaluated(rules, key, instance).on);
      return current().then((loaded) => evaluated(loaded, key, instance).on);
    },
    async evaluate(key, context) {
      return evaluated(await current(), key, withEnvironment(context));
    },
    async all(context) {
      const rules = await current();
      const full = withEnvironment(context);
      const answer: Record<string, boolean> = {};
      for (const key of new Set([...Object.keys(defaults), ...rules.keys()])) {
        answer[key] = evaluated(rules, key, full).on;
      }
      return answer;
    },
  };
}

/** What the `feature_flags.key` check constraint admits. */
export const FLAG_KEY = /^[a-z0-9][a-z0-9_.:-]*$/;

/** The app's flags' defaults, for {@link FlagReaderOptions.defaults}. */
export function flagDefaults(
  flags: Readonly<Record<string, AppFlag>> | undefined,
): Record<string, boolean> {
  return Object.fromEntries(
    Object.entries(flags ?? {}).map(([key, flag]) => [key, flag.enabled ?? true]),
  );
}

/**
 * Writes a `feature_flags` row for each of the app's flags the table lacks (its default
 * and description), leaving every existing row, an operator's choice, as it is. Resolves
 * to the keys it added. Throws `TypeError` naming a key the table would refuse.
 *
 * @example
 * const added = await registerFlags(db, app.flags); // ['rides.whatsapp']
 */
export async function registerFlags(
  db: Queryable,
  flags: Readonly<Record<string, AppFlag>> | undefined,
): Promise<string[]> {
  const entries = Object.entries(flags ?? {});
  for (const [key, flag] of entries) {
    if (!FLAG_KEY.test(key)) {
      throw new TypeError(
        `app flag "${key}": keys are lower-case letters, digits and _ . : - (first a letter or digit)`,
      );
    }
    if (typeof flag.description !== 'string' || flag.description.trim() === '') {
      throw new TypeError(`app flag "${key}": a description is required`);
    }
  }
  if (entries.length === 0) return [];
  const rows = await db.query<{ key: string }>(
    `insert into public.feature_flags (key, enabled, description)
     select f.key, f.enabled, f.description
       from jsonb_to_recordset($1::jsonb) as f(key text, enabled boolean, description text)
     on conflict (key) do nothing
     returning key`,
    [entries.map(([key, flag]) => ({
      key,
      enabled: flag.enabled ?? true,
      description: flag.description,
    }))],
  );
  return rows.map((row) => row.key).sort();
}
