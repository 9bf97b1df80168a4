import { describe, expect, it } from 'vitest';
import { isSensitiveKey, redact, REDACTED, redactField, redactString } from './redact.ts';

const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwicm9sZSI6InNlcnZpY2Vfcm9sZSJ9.' +
  'SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';

describe('redact', () => {
  it('redacts sensitive keys at any depth, case-insensitively', () => {
    const out = redact({
      headers: {
        Authorization: 'Bearer abc.def',
        'X-Hub-Signature-256': 'sha256=00',
        'Stripe-Signature': 't=1,v1=ab',
        'webhook-signature': 'v1,abc',
        'PAYPAL-TRANSMISSION-SIG': 'xyz',
        'set-cookie': ['a=1'],
        'content-type': 'application/json',
      },
      config: {
        database: { password: 'pw', passwd: 'pw', user: 'app' },
        STRIPE_WEBHOOK_SECRET: 's',
        apiKey: 'k',
        api_key: 'k',
        accessToken: 't',
        refresh_token: 't',
        private_key: 'pem',
        service_key: 'sk',
        jwt: 'j',
      },
      rate: { tokens: 5, event_key: 'wamid.1' },
    });
    expect(out).toEqual({
      headers: {
        Authorization: REDACTED,
        'X-Hub-Signature-256': REDACTED,
        'Stripe-Signature': REDACTED,
        'webhook-signature': REDACTED,
        'PAYPAL-TRANSMISSION-SIG': REDACTED,
        'set-cookie': REDACTED,
        'content-type': 'application/json',
      },
      config: {
        database: { password: REDACTED, passwd: REDACTED, user: 'app' },
        STRIPE_WEBHOOK_SECRET: REDACTED,
        apiKey: REDACTED,
        api_key: REDACTED,
        accessToken: REDACTED,
        refresh_token: REDACTED,
        private_key: REDACTED,
        service_key: REDACTED,
        jwt: REDACTED,
      },
      // Bucket token counts and event keys are data, not secrets.
      rate: { tokens: 5, event_key: 'wamid.1' },
    });
  });

  it('keeps an absent secret visible as absent', () => {
    expect(redact({ authorization: null, signature: undefined })).toEqual({ authorization: null });
  });

  it('redacts secret-looking values inside strings', () => {
    expect(redactString(`Authorization: Bearer ${JWT}`)).toBe(`Authorization: Bearer ${REDACTED}`);
    expect(redactString(`token was ${JWT}.`)).toBe(`token was ${REDACTED}.`);
    expect(redactString('connect postgres://app:s3cr%40t@db.internal:5432/app failed')).toBe(
      `connect postgres://app:${REDACTED}@db.internal:5432/app failed`,
    );
    expect(redactString('redis://:hunter2@cache')).toBe(`redis://:${REDACTED}@cache`);
    expect(redactString('key sk_live_51HxYzAbCdEf and rk_test_abc123')).toBe(
      `key sk_live_${REDACTED} and rk_test_${REDACTED}`,
    );
    expect(redactString('secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')).toContain(
      `whsec_${REDACTED}`,
    );
    expect(
      redactString('sig v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4= v1a,abcdefghijklmnopqrst'),
    )
      .toBe(`sig v1,${REDACTED} v1a,${REDACTED}`);
    expect(
      redactString(
        `t=1492774577,v1=${'5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd'}`,
      ),
    )
      .toBe(`t=1492774577,v1=${REDACTED}`);
    expect(redactString('password=hunter2 at db.internal:5432')).toBe(
      `password=${REDACTED} at db.internal:5432`,
    );
    expect(redactString('GET /cb?hub.mode=subscribe&hub.verify_token=abc&x=1')).toBe(
      `GET /cb?hub.mode=subscribe&hub.verify_token=${REDACTED}&x=1`,
    );
    expect(redactString('{"client_secret": "abc", "name": "x"}')).toBe(
      `{"client_secret": "${REDACTED}", "name": "x"}`,
    );
  });

  it('leaves ordinary text alone', () => {
    const text =
      'GET /health/ready 200 in 3ms; 5 tokens left; https://example.com:443/a; design: ok';
    expect(redactString(text)).toBe(text);
  });

  it('does not mutate its input and survives cycles and bigints', () => {
    const input: Record<string, unknown> = {
      password: 'pw',
      nested: { url: 'postgres://u:p@h/db', big: 10n ** 20n },
      list: [1, 'Bearer abc'],
    };
    input.self = input;
    (input.nested as Record<string, unknown>).parent = input;
    const before = structuredClone(input);

    const out = redact(input) as Record<string, unknown>;

    expect(input).toEqual(before);
    expect(out).toEqual({
      password: REDACTED,
      nested: {
        url: `postgres://u:${REDACTED}@h/db`,
        big: '100000000000000000000',
        parent: '[Circular]',
      },
      list: [1, `Bearer ${REDACTED}`],
      self: '[Circular]',
    });
    expect(() => JSON.stringify(out)).not.toThrow();
  });

  it('repeats a shared object that is not a cycle', () => {
    const shared = { a: 1 };
    expect(redact({ x: shared, y: shared })).toEqual({ x: { a: 1 }, y: { a: 1 } });
  });

  it('serialises errors with name, message, stack and cause, redacted', () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const error = new Error('login failed for postgres://svc:pw@db/app', { cause });
    const out = redact({ error }) as { error: Record<string, unknown> };
    expect(out.error.name).toBe('Error');
    expect(out.error.message).toBe(`login failed for postgres://svc:${REDACTED}@db/app`);
    expect(out.error.stack).toContain('redact.test.ts');
    expect(out.error.stack).not.toContain(':pw@');
    expect(out.error.cause).toMatchObject({
      message: 'connect ECONNREFUSED',
      code: 'ECONNREFUSED',
    });
  });

  it('turns Headers, Maps, Dates and binary into plain JSON', () => {
    const headers = new Headers({ authorization: 'Bearer x', accept: 'application/json' });
    expect(redact({
      headers,
      map: new Map([['secret', 's']]),
      at: new Date(0),
      body: new Uint8Array(3),
      fn: () => 1,
    })).toEqual({
      headers: { authorization: REDACTED, accept: 'application/json' },
      map: { secret: REDACTED },
      at: '1970-01-01T00:00:00.000Z',
      body: '[binary 3 bytes]',
    });
  });

  it('takes time in proportion to a hostile string, not to its square', () => {
    // Strings made to make a backtracking pattern retry from every position. Compared with
    // itself on the same machine, eight times the input: about eight times the time when
    // each pattern runs in one pass, sixty-four when it backtracks quadratically. (A fixed
    // limit in milliseconds failed on a busy machine while the patterns were fine.)
    const hostile = (repeats: number) => [
      'eyJ-'.repeat(repeats),
      'a://b:'.repeat(repeats),
      'token_'.repeat(repeats),
    ];
    const fastest = (texts: string[]) => {
      let best = Infinity;
      for (let round = 0; round < 3; round += 1) {
        const started = performance.now();
        for (const text of texts) redactString(text);
        best = Math.min(best, performance.now() - started);
      }
      return best;
    };
    const small = fastest(hostile(2_500));
    const large = fastest(hostile(20_000));
    expect(large / Math.max(small, 1)).toBeLessThan(24);
  });

  it('recognises sensitive key spellings', () => {
    for (
      const key of [
        'cookie',
        'Set-Cookie',
        'x-api-key',
        'apikey',
        'SUPABASE_SERVICE_ROLE_KEY',
        'secrets',
      ]
    ) {
      expect(isSensitiveKey(key), key).toBe(true);
    }
    for (const key of ['tokens', 'event_key', 'designation', 'content-type']) {
      expect(isSensitiveKey(key), key).toBe(false);
    }
  });
});

describe('redactField', () => {
  it('gives each field what redact of the whole record gives it', () => {
    const record: Record<string, unknown> = {
      authorization: 'Bearer abc.def.ghi',
      x_hub_signature_256: 'sha256=' + 'ab'.repeat(32),
      api_key: 42,
      secret: null,
      route: '/webhooks/whatsapp',
      detail: 'connect to postgres://app:hunter2@db.internal/app failed',
      status: 200,
      ok: true,
      nested: { token: 'abc', list: ['Bearer xyz', 1], deeper: { password: 'pw' } },
      error: new Error('password=hunter2'),
      gone: undefined,
      event_keys: ['wamid.1', 'token=abc', 'Bearer xyz'],
      sparse: ['a', , 'postgres://app:pw@db/app'],
      tokens: ['abc'],
    };
    const whole = redact(record) as Record<string, unknown>;
    for (const [key, value] of Object.entries(record)) {
      expect(redactField(key, value)).toEqual(whole[key]);
    }
    expect(redactField('route', '/webhooks/whatsapp')).toBe('/webhooks/whatsapp');
    expect(redactField('api_key', 42)).toBe(REDACTED);
    expect(redactField('secret', null)).toBeNull();
    expect(redactField('event_keys', record.event_keys)).toEqual([
      'wamid.1',
      `token=${REDACTED}`,
      `Bearer ${REDACTED}`,
    ]);
  });

  it('cuts nesting at the same depth as redact of the record', () => {
    let deep: Record<string, unknown> = { leaf: 'x' };
    for (let i = 0; i < 20; i += 1) deep = { inner: deep };
    const whole = redact({ deep }) as Record<string, unknown>;
    expect(redactField('deep', deep)).toEqual(whole.deep);
    expect(JSON.stringify(whole.deep)).toContain('[Truncated]');
  });
});

describe('redactString fast path', () => {
  it('returns strings that no rule can match unchanged', () => {
    for (const text of ['request', 'POST', '/webhooks/whatsapp', 'whatsapp', crypto.randomUUID()]) {
      expect(redactString(text)).toBe(text);
    }
  });

  it('still applies every rule when its trigger is present', () => {
    expect(redactString('postgres://app:pw@db/app')).toBe(`postgres://app:${REDACTED}@db/app`);
    expect(redactString('auth Bearer abc')).toBe(`auth Bearer ${REDACTED}`);
    expect(redactString(`token ${JWT}`)).toBe(`token ${REDACTED}`);
    expect(redactString('sk_live_abc123')).toBe(`sk_live_${REDACTED}`);
    expect(redactString('whsec_abc')).toBe(`whsec_${REDACTED}`);
    expect(redactString('v1,AAAAAAAAAAAAAAAAAAAAAAAA')).toBe(`v1,${REDACTED}`);
    expect(redactString(`sha256=${'ab'.repeat(32)}`)).toBe(`sha256=${REDACTED}`);
    expect(redactString('password=hunter2')).toBe(`password=${REDACTED}`);
  });
});

describe('isSensitiveKey memory', () => {
  it('gives the same verdicts however many distinct keys it has seen', () => {
    const keys = ['authorization', 'request_id', 'x-hub-signature-256', 'route', 'apiKey'];
    const first = keys.map(isSensitiveKey);
    for (let i = 0; i < 3_000; i += 1) isSensitiveKey(`field_${i}`);
    expect(keys.map(isSensitiveKey)).toEqual(first);
    expect(first).toEqual([true, false, true, false, true]);
  });
});
