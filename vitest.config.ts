import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['functions/**/*.test.ts', 'cli/**/*.test.ts', 'tests/**/*.test.ts'],
    // The fault suite needs PostgreSQL server binaries; it runs alone (vitest.faults.config.ts).
    exclude: [
      ...configDefaults.exclude,
      'tests/faults/**',
      // Two sessions, one terminating the other: only a Postgres server can stage it.
      ...(process.env.TEST_DATABASE_URL ? [] : ['tests/driver-fault.test.ts']),
    ],
    // Each test file gets its own database (see tests/support/database.ts), so files
    // run in parallel without seeing each other's rows.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    globalSetup: ['tests/support/global-setup.ts'],
  },
});
