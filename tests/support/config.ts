import { ConfigError, parseConfig } from '../../functions/_shared/config/index.ts';

/** The problems `parseConfig` lists for `env` (none when it parses). */
export function configProblems(env: Record<string, string>): string[] {
  try {
    parseConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
}
