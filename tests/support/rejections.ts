import { afterAll, afterEach, beforeAll, expect } from 'vitest';

/**
 * Fails each test of the file after which a promise rejected with nobody to handle it
 * (what ends a Deno server process), naming the reasons. Node reports such a rejection
 * once the microtasks of the turn that made it have run; the check waits one timer turn
 * so that every rejection made before the test ended has been reported.
 *
 * @example
 * noUnhandledRejections();
 * it('survives the database going away', async () => { ... });
 */
export function noUnhandledRejections(): void {
  const seen: unknown[] = [];
  const onRejection = (reason: unknown) => seen.push(reason);
  beforeAll(() => {
    process.on('unhandledRejection', onRejection);
  });
  afterAll(() => {
    process.off('unhandledRejection', onRejection);
  });
  afterEach(async () => {
    await new Promise((resolve) => setTimeout(resolve, 0));
    const reasons = seen.splice(0).map((reason) =>
      reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason)
    );
    expect(reasons, 'unhandled promise rejections').toEqual([]);
  });
}
