import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['functions/**/*.test.ts', 'cli/**/*.test.ts', 'tests/**/*.test.ts'],
    // Each test file gets its own database (see tests/support/database.ts), so files
    // run in parallel without seeing each other's rows.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    globalSetup: ['tests/support/global-setup.ts'],
  },
});
