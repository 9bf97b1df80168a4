import { createRoute, z } from '@hono/zod-openapi';
import QRCode from 'qrcode';
import { type Api, type ApiDeps, asCaller, json, problem, PROBLEM_RESPONSES } from './context.ts';
import { resourceRoutes } from './resource.ts';
import { getRow, type ListedTable } from './rows.ts';
import { IdParam, QrCode, QrCreate, QrImageQuery } from './schemas.ts';

export const QR_CODES: ListedTable = {
  table: 'qr_generations',
  noun: 'QR code',
  columns: 'id, user_id, kind, payload, amount_cents::float8 as amount_cents, currency, created_at',
  updatable: [],
  pageFunction: 'gatehouse.qr_codes_page',
};

/** What a phone does with the code: dial the USSD string (`#` escaped, as tel: URIs need). */
export function dialUri(ussd: string): string {
  return `tel:${ussd.replaceAll('#', '%23')}`;
}

/**
 * `/qr-codes`: payment codes a user issues for others to scan. Each is a QR code of a
 * `tel:` URI that dials a USSD payment string; the row records who issued what.
 */
export function qrRoutes(api: Api, deps: ApiDeps): void {
  api.openapi(
    createRoute({
      method: 'post',
      path: '/qr-codes',
      tags: ['qr-codes'],
      summary: 'Issue a QR code for a USSD payment code',
      request: { body: { content: { 'application/json': { schema: QrCreate } } } },
      responses: { 201: json(QrCode, 'Issued'), ...PROBLEM_RESPONSES },
    }),
    async (c) => {
      const input = c.req.valid('json');
      const row = await asCaller(c, deps, async (tx) =>
        (await tx.query(
          `insert into public.qr_generations (payload, amount_cents, currency)
           values ($1, $2, $3) returning ${QR_CODES.columns}`,
          [input.ussd, input.amount_cents ?? null, input.currency ?? null],
        ))[0]!);
      return c.json(row as never, 201, { Location: `qr-codes/${row.id}` });
    },
  );

  resourceRoutes(api, deps, {
    path: '/qr-codes',
    spec: QR_CODES,
    item: QrCode,
    listSummary: 'The QR codes you issued, newest first',
  });

  api.openapi(
    createRoute({
      method: 'get',
      path: '/qr-codes/{id}/image',
      tags: ['qr-codes'],
      summary: 'The QR code as SVG or PNG',
      request: { params: IdParam, query: QrImageQuery },
      responses: {
        200: {
          description: 'The image',
          content: {
            'image/svg+xml': { schema: z.string() },
            'image/png': { schema: z.string().openapi({ format: 'binary' }) },
          },
        },
        404: problem('No such QR code of yours'),
        ...PROBLEM_RESPONSES,
      },
    }),
    async (c) => {
      const { format, size } = c.req.valid('query');
      const row = await asCaller(c, deps, (tx) => getRow(tx, QR_CODES, c.req.valid('param').id));
      const text = dialUri(String(row.payload));
      const options = { errorCorrectionLevel: 'M', margin: 2 } as const;
      if (format === 'png') {
        const png = await QRCode.toBuffer(text, { ...options, type: 'png', width: size });
        return c.body(new Uint8Array(png), 200, { 'Content-Type': 'image/png' });
      }
      const svg = await QRCode.toString(text, { ...options, type: 'svg' });
      return c.body(svg, 200, { 'Content-Type': 'image/svg+xml' });
    },
  );
}
