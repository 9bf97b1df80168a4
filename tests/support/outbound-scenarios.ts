/**
 * Guard-and-request scenarios that run the same under Node (vitest) and Deno (a child
 * process), so both runtimes are shown to pin the connection, verify TLS against the
 * hostname and stop at redirects, deadlines and the excerpt limit.
 */
import {
  createOutboundPolicy,
  OutboundRefused,
  OutboundRequestFailed,
  pinnedRequest,
  type PinnedRequestOptions,
  resolveTarget,
} from '../../functions/_shared/outbound/net/index.ts';

export interface Scenario {
  readonly name: string;
  readonly url: string;
  /** The fake resolver's answer to each lookup in turn (the last one repeats). */
  readonly answers: readonly (readonly string[])[];
  readonly allowedTargets?: readonly string[];
  readonly allowHttp?: boolean;
  readonly request?: Omit<PinnedRequestOptions, 'signal'>;
}

export interface Outcome {
  readonly name: string;
  /** How many times the fake resolver was asked. */
  readonly lookups: number;
  readonly address?: string;
  readonly response?: {
    status: number;
    headers: Record<string, string>;
    excerpt: string;
    truncated: boolean;
  };
  readonly error?: { readonly type: string; readonly reason: string; readonly message: string };
}

export async function runScenario(scenario: Scenario): Promise<Outcome> {
  let lookups = 0;
  const policy = createOutboundPolicy({
    allowHttp: scenario.allowHttp ?? false,
    allowedTargets: scenario.allowedTargets ?? [],
    resolver: (_hostname) => {
      const answer = scenario.answers[Math.min(lookups, scenario.answers.length - 1)] ?? [];
      lookups += 1;
      return Promise.resolve(answer);
    },
  });
  let address: string | undefined;
  try {
    const target = await resolveTarget(scenario.url, policy);
    address = target.address;
    const { durationMs: _, ...response } = await pinnedRequest(target, scenario.request);
    return { name: scenario.name, lookups, address, response };
  } catch (error) {
    if (!(error instanceof OutboundRefused || error instanceof OutboundRequestFailed)) throw error;
    const { name: type, reason, message } = error;
    return { name: scenario.name, lookups, address, error: { type, reason, message } };
  }
}

export function runScenarios(scenarios: readonly Scenario[]): Promise<Outcome[]> {
  return Promise.all(scenarios.map(runScenario));
}
