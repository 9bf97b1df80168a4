import { availableParallelism } from 'node:os';
import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['functions/**/*.test.ts', 'cli/**/*.test.ts', 'tests/**/*.test.ts'],
    // The fault suite needs PostgreSQL server binaries; it runs alone (vitest.faults.config.ts).
    exclude: [
      ...configDefaults.exclude,
      'tests/faults/**',
      // The browser suite needs Chromium; it runs alone (vitest.browser.config.ts).
      'tests/browser/**',
      // Only a Postgres server can stage these: two sessions, one terminating the other;
      // the Supabase CLI connecting over the network; a request held by another session's lock.
      ...(process.env.TEST_DATABASE_URL ? [] : [
        'tests/driver-fault.test.ts',
        'tests/supabase-cli.test.ts',
        'tests/api-idempotency-race.test.ts',
        'tests/app-bot-state-race.test.ts',
        'tests/outbound-lock-order.test.ts',
      ]),
    ],
    // Each test file gets its own database (see tests/support/database.ts), so files
    // run in parallel without seeing each other's rows.
    pool: 'forks',
    // A worker process runs file after file with its modules loaded once (the embedded
    // database's WebAssembly, Hono, zod, the driver): loading them again for every file took
    // about half of the suite's time (418 s against 227 s on PGlite, on two cores). Each file
    // still gets its own database; no test changes process.env, and spies are restored.
    isolate: false,
    // The files mostly wait (on Postgres, servers they start, timers), so more of them run
    // at once than there are cores: at least 3 (vitest's default on 2 cores is 1).
    maxWorkers: Math.max(3, availableParallelism() - 1),
    testTimeout: 30_000,
    hookTimeout: 60_000,
    globalSetup: ['tests/support/global-setup.ts'],
  },
});
