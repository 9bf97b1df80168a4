import { configDefaults, defineConfig } from 'vitest/config';

/**
 * The browser suite (`npm run test:browser`): the console and the PWA in Debian's Chromium
 * driven by `playwright-core`, each file against its own `gatehouse start`. It needs the
 * `chromium` package (`.ci/run` installs it); `npm test` leaves it out.
 */
export default defineConfig({
  test: {
    include: ['tests/browser/**/*.test.ts'],
    exclude: [...configDefaults.exclude],
    pool: 'forks',
    // Two at a time: each file runs a server and a browser.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    globalSetup: ['tests/support/global-setup.ts'],
  },
});
