import { describe, expect, it } from 'vitest';
import { configProblems } from '../../../tests/support/config.ts';
import { ConfigError, parseConfig } from './index.ts';

describe('parseConfig', () => {
  it('gives development defaults for an empty environment', () => {
    const config = parseConfig({});
    expect(config.env).toBe('development');
    expect(config.port).toBe(54321);
    expect(config.database.url).toBeNull();
    expect(config.database.prepare).toBe(false);
    expect(config.dataDir).toBe('.data');
    expect(config.log.level).toBe('info');
    expect(config.paypal.certHosts).toEqual(['api.paypal.com', 'api.sandbox.paypal.com']);
    expect(config.upstash).toBeNull();
  });

  it('names a malformed variable and shows its (non-secret) value', () => {
    expect(configProblems({ PORT: 'eighty' })).toEqual([
      'PORT: must be a whole number between 1 and 65535 (got "eighty")',
    ]);
    expect(configProblems({ PORT: '70000' })).toEqual([
      'PORT: must be at most 65535 (got "70000")',
    ]);
    expect(configProblems({ GATEHOUSE_ENV: 'staging' })[0]).toMatch(
      /^GATEHOUSE_ENV: must be development or production/,
    );
  });

  it('names every bad variable at once and never echoes a secret-bearing value', () => {
    const problems = configProblems({
      DATABASE_URL: 'mysql://root:hunter2@db/app',
      GATEHOUSE_LOG_LEVEL: 'loud',
      WHATSAPP_GRAPH_URL: 'ftp://graph',
    });
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toContain('DATABASE_URL: must be a postgres://');
    expect(problems.join('\n')).toContain(
      'GATEHOUSE_LOG_LEVEL: must be debug, info, warn or error',
    );
    expect(problems.join('\n')).toContain('WHATSAPP_GRAPH_URL: must be an http(s) URL');
    expect(problems.join('\n')).not.toContain('hunter2');
  });

  it('requires a long service key and a database in production (fail closed)', () => {
    const problems = configProblems({ GATEHOUSE_ENV: 'production' });
    expect(problems).toEqual([
      'GATEHOUSE_SERVICE_KEY: required when GATEHOUSE_ENV=production',
      'DATABASE_URL: required when GATEHOUSE_ENV=production (the embedded database is for development)',
    ]);
    expect(
      configProblems({
        GATEHOUSE_ENV: 'production',
        GATEHOUSE_SERVICE_KEY: 'short',
        DATABASE_URL: 'postgres://u@h/d',
      }),
    ).toEqual(['GATEHOUSE_SERVICE_KEY: every key must be at least 32 characters in production']);
  });

  it('falls back to Supabase-provided SUPABASE_DB_URL', () => {
    expect(parseConfig({ SUPABASE_DB_URL: 'postgresql://postgres@db:5432/postgres' }).database.url)
      .toBe('postgresql://postgres@db:5432/postgres');
    expect(
      parseConfig({
        DATABASE_URL: 'postgres://a@h/one',
        SUPABASE_DB_URL: 'postgres://b@h/two',
      }).database.url,
    ).toBe('postgres://a@h/one');
  });

  it('splits secret lists for rotation and treats empty values as unset', () => {
    const config = parseConfig({
      WHATSAPP_APP_SECRET: ' new-secret , old-secret ,',
      STRIPE_WEBHOOK_SECRET: '',
      GATEHOUSE_CORS_ORIGINS: 'https://app.example.com, https://admin.example.com',
    });
    expect(config.whatsapp.appSecrets).toEqual(['new-secret', 'old-secret']);
    expect(config.stripe.webhookSecrets).toEqual([]);
    expect(config.http.corsOrigins).toEqual([
      'https://app.example.com',
      'https://admin.example.com',
    ]);
  });

  it('collects Standard Webhooks secrets per source', () => {
    const [A, B, C] = ['a', 'b', 'c'].map((c) => `whsec_${btoa(c.repeat(24))}`);
    const config = parseConfig({
      WEBHOOK_SECRET_BILLING: `${A},${B}`,
      WEBHOOK_SECRET_CRM_EVENTS: C,
    });
    expect(config.standardWebhooks).toEqual({ billing: [A, B], crm_events: [C] });
    expect(configProblems({ 'WEBHOOK_SECRET_bad-name': 'x' })).toEqual([
      'WEBHOOK_SECRET_bad-name: the source part must be upper-case letters, digits and underscores',
    ]);
  });

  it('requires both Upstash variables or neither', () => {
    expect(configProblems({ UPSTASH_REDIS_REST_URL: 'https://redis.example.com' })).toEqual([
      'UPSTASH_REDIS_REST_TOKEN: required when UPSTASH_REDIS_REST_URL is set',
    ]);
    expect(
      parseConfig({
        UPSTASH_REDIS_REST_URL: 'https://r.example.com',
        UPSTASH_REDIS_REST_TOKEN: 't',
      })
        .upstash,
    ).toEqual({ url: 'https://r.example.com', token: 't' });
  });
});

describe('USSD gate settings', () => {
  const TOKEN = 'k7Qx-2fVb_9LmPz0.Aw~';

  it('has no gate by default (the route then refuses every callback)', () => {
    expect(parseConfig({}).ussd).toEqual({ pathTokens: [], allowedIps: [] });
  });

  it('reads path tokens and allowed addresses as comma-separated lists', () => {
    const config = parseConfig({
      USSD_PATH_TOKEN: ` ${TOKEN} , older-token-0123456789,`,
      USSD_ALLOWED_IPS: '196.201.214.0/24, 41.90.1.7,2001:db8::10',
    });
    expect(config.ussd).toEqual({
      pathTokens: [TOKEN, 'older-token-0123456789'],
      allowedIps: ['196.201.214.0/24', '41.90.1.7', '2001:db8::10'],
    });
    expect(parseConfig({ USSD_PATH_TOKEN: '', USSD_ALLOWED_IPS: ' ' }).ussd).toEqual({
      pathTokens: [],
      allowedIps: [],
    });
  });

  it('refuses a short or URL-unsafe token without echoing it', () => {
    for (const token of ['short-token', `${TOKEN}/x`, `${TOKEN}%2F`, `${TOKEN} x`]) {
      const problems = configProblems({ USSD_PATH_TOKEN: `${TOKEN},${token}` });
      expect(problems).toEqual([
        'USSD_PATH_TOKEN: every token must be at least 16 characters of A-Z a-z 0-9 . _ ~ - (it is part of the callback URL)',
      ]);
      expect(problems.join('\n')).not.toContain(TOKEN);
    }
  });

  it('names each entry of USSD_ALLOWED_IPS that is not an address or IPv4 range', () => {
    expect(configProblems({ USSD_ALLOWED_IPS: '196.201.214.0/24,196.201.214.0/33,example.com' }))
      .toEqual([
        'USSD_ALLOWED_IPS: "196.201.214.0/33" is not an IPv4 address, IPv4 CIDR or IPv6 address' +
        ' (got "196.201.214.0/24,196.201.214.0/33,example.com")',
        'USSD_ALLOWED_IPS: "example.com" is not an IPv4 address, IPv4 CIDR or IPv6 address' +
        ' (got "196.201.214.0/24,196.201.214.0/33,example.com")',
      ]);
  });
});

describe('PAYPAL_CERT_HOSTS', () => {
  it('takes bare hostnames, lower-cased', () => {
    expect(parseConfig({ PAYPAL_CERT_HOSTS: 'API.PayPal.com, certs.example.org' }).paypal.certHosts)
      .toEqual(['api.paypal.com', 'certs.example.org']);
  });

  it('refuses a URL, a port or a wildcard at start, naming the entry', () => {
    for (const bad of ['https://api.paypal.com', 'api.paypal.com:443', '*.paypal.com']) {
      expect(() => parseConfig({ PAYPAL_CERT_HOSTS: `api.paypal.com,${bad}` })).toThrow(
        `PAYPAL_CERT_HOSTS: "${bad}" is not a bare hostname`,
      );
    }
  });
});

describe('WEBHOOK_SECRET_<SOURCE>', () => {
  it('refuses a secret that is not whsec_<base64> at start, without echoing it', () => {
    const error = (() => {
      try {
        parseConfig({ WEBHOOK_SECRET_SHOP: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw,not-base64!' });
      } catch (caught) {
        return caught as ConfigError;
      }
    })();
    expect(error?.problems).toEqual([
      'WEBHOOK_SECRET_SHOP: entry 2 is not a whsec_<base64> secret',
    ]);
    expect(error?.message).not.toContain('not-base64!');
  });

  it('takes the spec test vector secret', () => {
    expect(
      parseConfig({ WEBHOOK_SECRET_SHOP: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' })
        .standardWebhooks,
    ).toEqual({ shop: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'] });
  });
});

describe('outbound webhooks', () => {
  const production = {
    GATEHOUSE_ENV: 'production',
    DATABASE_URL: 'postgres://db.example.com/app',
    GATEHOUSE_SERVICE_KEY: 'k'.repeat(40),
  };

  it('defaults: loopback and http allowed in development, neither in production', () => {
    expect(parseConfig({}).outbound).toEqual({
      encryptionKeys: [],
      allowedTargets: ['localhost', '127.0.0.0/8', '::1'],
      allowHttp: true,
      disableAfterMs: 120 * 3_600_000,
      secretOverlapMs: 24 * 3_600_000,
    });
    expect(parseConfig(production).outbound).toMatchObject({
      allowedTargets: [],
      allowHttp: false,
    });
    expect(
      parseConfig({
        ...production,
        GATEHOUSE_WEBHOOK_ALLOWED_TARGETS: 'ERP.internal.example, 10.0.0.0/8',
      })
        .outbound.allowedTargets,
    ).toEqual(['erp.internal.example', '10.0.0.0/8']);
  });

  it('refuses a key that is not 32 bytes of base64 and a target that is neither host nor range, without echoing the key', () => {
    const problems = (env: Record<string, string>) => {
      try {
        parseConfig(env);
        return [];
      } catch (caught) {
        return (caught as ConfigError).problems;
      }
    };
    const short = problems({ GATEHOUSE_ENCRYPTION_KEY: 'c2hvcnQta2V5' });
    expect(short).toEqual([
      'GATEHOUSE_ENCRYPTION_KEY: every key must be 32 random bytes in base64 (e.g. `openssl rand -base64 32`)',
    ]);
    expect(short.join()).not.toContain('c2hvcnQta2V5');
    expect(problems({ GATEHOUSE_WEBHOOK_ALLOWED_TARGETS: '10.0.0.0/33' })).toEqual([
      'GATEHOUSE_WEBHOOK_ALLOWED_TARGETS: "10.0.0.0/33" is neither a hostname nor an IP address or CIDR range (got "10.0.0.0/33")',
    ]);
    expect(problems({ GATEHOUSE_WEBHOOK_DISABLE_AFTER_HOURS: '0' })).toHaveLength(1);
  });
});
