import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../functions/_shared/config/index.ts';
import {
  SANDBOX_DEFAULT_PORT,
  SANDBOX_GRAPH_TOKEN,
  SANDBOX_PAYPAL_HOST,
  sandboxFetch,
  withSandbox,
} from './index.ts';

describe('withSandbox', () => {
  it('sends WhatsApp and takes PayPal certificates from the sandbox when neither is set', () => {
    const { env, sandbox } = withSandbox({});
    expect(sandbox).toMatchObject({
      origin: `http://127.0.0.1:${SANDBOX_DEFAULT_PORT}`,
      whatsapp: true,
      paypal: true,
    });
    const config = parseConfig(env);
    expect(config.whatsapp).toMatchObject({
      accessToken: SANDBOX_GRAPH_TOKEN,
      graphUrl: `http://127.0.0.1:${SANDBOX_DEFAULT_PORT}/v21.0`,
    });
    expect(config.paypal.certHosts).toEqual([SANDBOX_PAYPAL_HOST]);
    expect(config.paypal.webhookIds).toHaveLength(1);
  });

  it('leaves a provider configured by hand alone', () => {
    const whatsappSet = withSandbox({ WHATSAPP_GRAPH_URL: 'https://graph.example.org/v21.0' });
    expect(whatsappSet.sandbox).toMatchObject({ whatsapp: false, paypal: true });
    expect(whatsappSet.env.WHATSAPP_ACCESS_TOKEN).toBeUndefined();
    const paypalSet = withSandbox({ PAYPAL_WEBHOOK_ID: 'WH-REAL' });
    expect(paypalSet.sandbox).toMatchObject({ whatsapp: true, paypal: false });
    expect(parseConfig(paypalSet.env).paypal.certHosts).toEqual([
      'api.paypal.com',
      'api.sandbox.paypal.com',
    ]);
    const both = { WHATSAPP_ACCESS_TOKEN: 'real', PAYPAL_CERT_HOSTS: 'api.paypal.com' };
    expect(withSandbox(both)).toEqual({ env: both, sandbox: null });
  });

  it('is off when switched off, and never in production', () => {
    expect(withSandbox({ GATEHOUSE_SANDBOX: 'false' }).sandbox).toBeNull();
    expect(withSandbox({ GATEHOUSE_ENV: 'production' })).toEqual({
      env: { GATEHOUSE_ENV: 'production' },
      sandbox: null,
    });
    expect(() => withSandbox({ GATEHOUSE_ENV: 'production', GATEHOUSE_SANDBOX: 'true' }))
      .toThrow('GATEHOUSE_SANDBOX: the sandbox exists only in development');
  });

  it('refuses a switch or a port it cannot read', () => {
    expect(() => withSandbox({ GATEHOUSE_SANDBOX: 'yes please' })).toThrow(ConfigError);
    for (const port of ['0', '65536', 'http', '80.5']) {
      expect(() => withSandbox({ GATEHOUSE_SANDBOX_PORT: port }), port).toThrow(
        `GATEHOUSE_SANDBOX_PORT: must be a port number (1-65535), got "${port}"`,
      );
    }
    expect(withSandbox({ GATEHOUSE_SANDBOX_PORT: '6000' }).sandbox?.origin).toBe(
      'http://127.0.0.1:6000',
    );
  });
});

describe('sandboxFetch', () => {
  it("sends the sandbox's PayPal host to the sandbox and every other URL where it points", async () => {
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(`${req.headers.host} ${req.url}`);
      res.end('pem');
    });
    await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const fetch = sandboxFetch(origin);
      const res = await fetch(`https://${SANDBOX_PAYPAL_HOST}/v1/notifications/certs/C1?x=1`);
      expect(await res.text()).toBe('pem');
      await (await fetch(`${origin}/direct`)).text();
      expect(seen.map((line) => line.split(' ')[1])).toEqual([
        '/v1/notifications/certs/C1?x=1',
        '/direct',
      ]);
      // The same host over plain http, or another https host, is not the sandbox's.
      await expect(fetch(`http://${SANDBOX_PAYPAL_HOST}:9/x`)).rejects.toThrow();
    } finally {
      await new Promise<void>((done) => server.close(() => done()));
    }
  });
});
