import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { ensureDevelopmentSecrets } from './dev-secrets.ts';
import { loadLocalEnv, parseDotenv } from './env.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-env-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('parseDotenv', () => {
  it('reads the usual forms', () => {
    expect(parseDotenv([
      '# comment',
      'PORT=8080',
      'export GATEHOUSE_ENV=development',
      'QUOTED="a # not a comment\\nline two"',
      "SINGLE='raw \\n kept'",
      'INLINE=value # trailing comment',
      'EMPTY=',
      '',
    ].join('\r\n'))).toEqual({
      PORT: '8080',
      GATEHOUSE_ENV: 'development',
      QUOTED: 'a # not a comment\nline two',
      SINGLE: 'raw \\n kept',
      INLINE: 'value',
      EMPTY: '',
    });
  });

  it('names the line it cannot read', () => {
    expect(() => parseDotenv('PORT=1\nthis is not a pair\n')).toThrow(
      '.env line 2: expected KEY=value',
    );
    expect(() => parseDotenv('A="open\n')).toThrow('.env line 1: unterminated " quote');
  });
});

describe('loadLocalEnv', () => {
  it('lets the real environment win over .env', async () => {
    const file = join(dir, '.env');
    await writeFile(file, 'PORT=1111\nGATEHOUSE_LOG_LEVEL=debug\n');
    expect(await loadLocalEnv(file, { PORT: '2222' })).toEqual({
      PORT: '2222',
      GATEHOUSE_LOG_LEVEL: 'debug',
    });
  });

  it('works without a .env file', async () => {
    expect(await loadLocalEnv(join(dir, 'missing.env'), { PORT: '3' })).toEqual({ PORT: '3' });
  });
});

describe('ensureDevelopmentSecrets', () => {
  it('generates missing secrets once, stores them privately and reuses them', async () => {
    const first = await ensureDevelopmentSecrets({ WHATSAPP_APP_SECRET: 'mine' }, dir);
    expect(first.filled.WHATSAPP_APP_SECRET).toBeUndefined();
    expect(first.env.WHATSAPP_APP_SECRET).toBe('mine');
    expect(first.filled.GATEHOUSE_SERVICE_KEY).toMatch(/^ghsk_dev_[A-Za-z0-9_-]{43}$/);
    expect(first.filled.STRIPE_WEBHOOK_SECRET).toMatch(/^whsec_/);

    const file = join(dir, 'dev-secrets.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(await readFile(file, 'utf8'));
    expect(stored.GATEHOUSE_SERVICE_KEY).toBe(first.filled.GATEHOUSE_SERVICE_KEY);

    const second = await ensureDevelopmentSecrets({}, dir);
    expect(second.filled.GATEHOUSE_SERVICE_KEY).toBe(first.filled.GATEHOUSE_SERVICE_KEY);
    expect(second.filled.WHATSAPP_APP_SECRET).toMatch(/^[0-9a-f]{64}$/);
    expect(parseConfig(second.env).serviceKeys).toEqual([first.filled.GATEHOUSE_SERVICE_KEY]);
  });

  it('refuses a corrupted secrets file instead of silently replacing it', async () => {
    await writeFile(join(dir, 'dev-secrets.json'), '{not json');
    await expect(ensureDevelopmentSecrets({}, dir)).rejects.toThrow(/not valid JSON/);
  });
});
