/**
 * The local server hands the memory glibc holds freed back to the system
 * (`cli/deno/release-memory.ts`): memory freed below a block still in use stays resident
 * until then, which is what kept the embedded server's peak near its budget.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from './support/process.ts';

const FREED_MB = 64;

function run(env: Record<string, string> = {}) {
  const deno = join(projectRoot, 'node_modules/.bin/deno');
  const result = spawnSync(
    deno,
    [
      'run',
      '--allow-all',
      '--quiet',
      '--v8-flags=--expose-gc',
      '--config',
      join(projectRoot, 'deno.json'),
      join(projectRoot, 'tests/fixtures/release-memory.ts'),
      String(FREED_MB),
    ],
    {
      encoding: 'utf8',
      timeout: 60_000,
      // The allocator settings the local server runs with (bin/deno-runtime.mjs).
      env: { ...process.env, MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '65536', ...env },
    },
  );
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(result.stdout.trim().split('\n').at(-1)!) as {
    released: boolean;
    filled: number;
    freed: number;
    after: number;
  };
}

describe('releasing freed memory (Linux, glibc)', () => {
  it.runIf(process.platform === 'linux')(
    'gives back most of what was freed below a live block, which stays resident until then',
    () => {
      const seen = run();
      expect(seen.released).toBe(true);
      // Freed but held: glibc cannot trim past the block allocated after the freed ones.
      expect(seen.filled - seen.freed).toBeLessThan(FREED_MB / 4);
      // Released: at least three quarters of it leaves the resident set.
      expect(seen.freed - seen.after).toBeGreaterThan((FREED_MB * 3) / 4);
    },
  );
});
