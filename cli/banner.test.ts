import { describe, expect, it } from 'vitest';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { useMigratedDatabase } from '../tests/support/migrated.ts';
import { printBanner, switchedOffFlags } from './banner.ts';

const database = useMigratedDatabase();
const config = parseConfig({
  WHATSAPP_APP_SECRET: 'banner-app-secret',
  STRIPE_WEBHOOK_SECRET: 'whsec_banner',
});

function banner(switchedOff?: ReadonlySet<string>): string[] {
  const lines: string[] = [];
  printBanner((line) => lines.push(line), {
    config,
    base: 'http://127.0.0.1:54321',
    database: 'embedded',
    filled: {},
    anonKey: null,
    switchedOff,
  });
  return lines;
}

const lineOf = (lines: string[], provider: string) =>
  lines.find((line) => line.trimStart().startsWith(`${provider} `))!;

describe('the start-up banner', () => {
  it('marks a provider whose intake an operator switched off, and says how to switch it on', () => {
    const lines = banner(new Set(['intake.stripe']));
    expect(lineOf(lines, 'stripe')).toContain(
      '/functions/v1/webhooks/stripe  (switched off: answers 503 until feature flag intake.stripe is on)',
    );
    expect(lineOf(lines, 'whatsapp')).not.toContain('switched off');
    expect(lineOf(banner(), 'stripe')).not.toContain('switched off');
  });

  it('still names what a provider lacks first: a missing secret refuses before any switch', () => {
    expect(lineOf(banner(new Set(['intake.paypal'])), 'paypal')).toContain(
      '(refuses every delivery until PAYPAL_WEBHOOK_ID is set)',
    );
  });

  it('reads the switches that are off from feature_flags', async () => {
    await database.db.query(
      `insert into feature_flags (key, enabled) values ('intake.stripe', false), ('intake.whatsapp', true)
       on conflict (key) do update set enabled = excluded.enabled`,
    );
    const off = await switchedOffFlags(database.db, config);
    expect([...off]).toEqual(['intake.stripe']);
  });
});
