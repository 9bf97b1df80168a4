import { createLogger, type Logger } from '../../functions/_shared/log/index.ts';

/** A real logger whose JSON lines are kept for assertions. */
export function capturedLogger(): {
  logger: Logger;
  lines: string[];
  entries: () => Record<string, unknown>[];
} {
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', sink: (line) => lines.push(line) });
  return { logger, lines, entries: () => lines.map((line) => JSON.parse(line)) };
}
