/**
 * `/api/qr-codes`: a user issues a QR code for a USSD payment string and gets it back as SVG
 * and as a PNG that a QR reader decodes to the `tel:` URI dialling that string; other users
 * cannot fetch it.
 */
import jsQR from 'jsqr';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { send, useApi } from './support/api.ts';
import { useMigratedDatabase } from './support/migrated.ts';

const database = useMigratedDatabase();
const api = useApi(database);
const MERCHANT = 'c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f';
const OTHER = 'd4e5f6a7-b8c9-4d0e-9f1a-2b3c4d5e6f7a';

async function issue(ussd: string) {
  const res = await api.call(
    MERCHANT,
    '/qr-codes',
    send('POST', { ussd, amount_cents: 25_000, currency: 'KES' }),
  );
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; payload: string; amount_cents: number };
}

describe('/api/qr-codes', () => {
  it("issues a code, kept as the caller's", async () => {
    const code = await issue('*334*1*123456*250#');
    expect(code).toMatchObject({ payload: '*334*1*123456*250#', amount_cents: 25_000 });
    const listed = await (await api.call(MERCHANT, '/qr-codes')).json() as { items: unknown[] };
    expect(listed.items).toEqual([expect.objectContaining({ id: code.id })]);
    expect((await (await api.call(OTHER, '/qr-codes')).json()).items).toEqual([]);
    const one = await api.call(MERCHANT, `/qr-codes/${code.id}`);
    expect(await one.json()).toMatchObject({ id: code.id, payload: '*334*1*123456*250#' });
    const hidden = await api.call(OTHER, `/qr-codes/${code.id}`);
    expect(hidden.status).toBe(404);
    expect(await hidden.json()).toMatchObject({ detail: 'no such QR code' });
  });

  it('renders a PNG that a QR reader decodes to the tel: URI dialling the code', async () => {
    const code = await issue('*334*1*654321#');
    const res = await api.call(MERCHANT, `/qr-codes/${code.id}/image?format=png&size=300`);
    expect(res.headers.get('content-type')).toBe('image/png');
    const png = PNG.sync.read(Buffer.from(await res.arrayBuffer()));
    expect(png.width).toBe(300);
    const decoded = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
    expect(decoded?.data).toBe('tel:*334*1*654321%23');
  });

  it('renders an SVG', async () => {
    const code = await issue('*334*2#');
    const res = await api.call(MERCHANT, `/qr-codes/${code.id}/image`);
    expect(res.headers.get('content-type')).toBe('image/svg+xml');
    expect(await res.text()).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  });

  it("refuses what is not a USSD code, and hides other users' codes", async () => {
    for (const ussd of ['334#', '*334*1', '*33<script>#', `*${'1'.repeat(200)}#`]) {
      const res = await api.call(MERCHANT, '/qr-codes', send('POST', { ussd }));
      expect(res.status, ussd).toBe(400);
    }
    const code = await issue('*334*3#');
    expect((await api.call(OTHER, `/qr-codes/${code.id}/image`)).status).toBe(404);
  });
});
