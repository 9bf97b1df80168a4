import { defineConfig } from 'vitest/config';

/**
 * The fault suite (`npm run test:faults`): scenarios that kill the server, stop Postgres and
 * overload the intake. Each file brings its own throwaway Postgres cluster
 * (tests/faults/support/cluster.ts), so this suite needs the PostgreSQL server binaries on
 * PATH; `npm test` leaves it out.
 */
export default defineConfig({
  test: {
    include: ['tests/faults/**/*.test.ts'],
    pool: 'forks',
    // One file at a time: scenarios measure RSS and latency, which a neighbour would skew.
    fileParallelism: false,
    // A scenario drives load for up to a minute, then checks the database.
    testTimeout: 120_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
  },
});
