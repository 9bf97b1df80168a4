import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config/index.ts';
import { webhookEndpoints } from './providers.ts';

describe('webhookEndpoints', () => {
  it('lists every route and its switch, saying which variable a provider still lacks', () => {
    expect(webhookEndpoints(parseConfig({}))).toEqual([
      {
        provider: 'whatsapp',
        path: '/whatsapp',
        flag: 'intake.whatsapp',
        note: 'verify token: WHATSAPP_VERIFY_TOKEN',
        missing: 'WHATSAPP_APP_SECRET',
      },
      {
        provider: 'stripe',
        path: '/stripe',
        flag: 'intake.stripe',
        missing: 'STRIPE_WEBHOOK_SECRET',
      },
      { provider: 'paypal', path: '/paypal', flag: 'intake.paypal', missing: 'PAYPAL_WEBHOOK_ID' },
      {
        provider: 'standard:<source>',
        path: '/standard/<source>',
        flag: 'intake.standard',
        missing: 'WEBHOOK_SECRET_<SOURCE>',
      },
      {
        provider: 'ussd',
        path: '/ussd',
        flag: 'intake.ussd',
        missing: 'USSD_PATH_TOKEN or USSD_ALLOWED_IPS',
      },
    ]);
  });

  it('names each configured Standard Webhooks source, and never a path token', () => {
    const endpoints = webhookEndpoints(parseConfig({
      WHATSAPP_APP_SECRET: 'app-secret',
      STRIPE_WEBHOOK_SECRET: 'whsec_x',
      PAYPAL_WEBHOOK_ID: 'WH-1',
      WEBHOOK_SECRET_GITHUB: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      WEBHOOK_SECRET_BILLING: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      USSD_PATH_TOKEN: 'secret-path-token-0123456789',
    }));
    expect(endpoints.map((endpoint) => [endpoint.provider, endpoint.path, endpoint.missing]))
      .toEqual([
        ['whatsapp', '/whatsapp', undefined],
        ['stripe', '/stripe', undefined],
        ['paypal', '/paypal', undefined],
        ['standard:billing', '/standard/billing', undefined],
        ['standard:github', '/standard/github', undefined],
        ['ussd', '/ussd/<USSD_PATH_TOKEN>', undefined],
      ]);
    expect(JSON.stringify(endpoints)).not.toContain('secret-path-token');
  });
});
