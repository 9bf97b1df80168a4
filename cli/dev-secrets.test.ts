import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { ensureDevelopmentSecrets } from './dev-secrets.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-dev-secrets-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('development USSD path token', () => {
  it('is generated when no USSD gate is configured, and is a valid token', async () => {
    const { env, filled } = await ensureDevelopmentSecrets({}, dir);
    expect(filled.USSD_PATH_TOKEN).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(parseConfig(env).ussd.pathTokens).toEqual([filled.USSD_PATH_TOKEN]);
    // Kept for the next start, like the other development secrets.
    expect((await ensureDevelopmentSecrets({}, dir)).filled.USSD_PATH_TOKEN)
      .toBe(filled.USSD_PATH_TOKEN);
  });

  it('is not generated when the developer set a token or an address allow-list', async () => {
    const own = await ensureDevelopmentSecrets({ USSD_PATH_TOKEN: 'my-own-token-0123456789' }, dir);
    expect(own.filled.USSD_PATH_TOKEN).toBeUndefined();
    expect(own.env.USSD_PATH_TOKEN).toBe('my-own-token-0123456789');

    const ips = await ensureDevelopmentSecrets({ USSD_ALLOWED_IPS: '127.0.0.1' }, dir);
    expect(ips.filled.USSD_PATH_TOKEN).toBeUndefined();
    expect(parseConfig(ips.env).ussd).toEqual({ pathTokens: [], allowedIps: ['127.0.0.1'] });
  });
});
