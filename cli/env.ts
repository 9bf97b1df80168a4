import { readFile } from 'node:fs/promises';
import type { Env } from '../functions/_shared/config/index.ts';

/**
 * Parses a `.env` file: `KEY=value` lines, `export KEY=value`, `#` comments, single- or
 * double-quoted values (double quotes understand `\n`), and inline ` #` comments after
 * unquoted values. Throws with the line number for a line it cannot read.
 */
export function parseDotenv(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  lines.forEach((rawLine, index) => {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) return;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!match) throw new Error(`.env line ${index + 1}: expected KEY=value`);
    const [, key, rest] = match as unknown as [string, string, string];
    values[key] = parseValue(rest, index + 1);
  });
  return values;
}

function parseValue(rest: string, lineNumber: number): string {
  const quote = rest[0];
  if (quote === '"' || quote === "'") {
    const end = rest.lastIndexOf(quote);
    if (end === 0) throw new Error(`.env line ${lineNumber}: unterminated ${quote} quote`);
    const inner = rest.slice(1, end);
    return quote === '"'
      ? inner.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\')
      : inner;
  }
  const comment = rest.search(/\s#/);
  return (comment === -1 ? rest : rest.slice(0, comment)).trim();
}

/**
 * The environment the local server runs with: `.env` (when present) under the real
 * environment, which wins.
 */
export async function loadLocalEnv(envFile: string, real: Env): Promise<Env> {
  let text: string;
  try {
    text = await readFile(envFile, 'utf8');
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return { ...real };
    throw error;
  }
  return { ...parseDotenv(text), ...real };
}
