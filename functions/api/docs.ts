import type { Context } from 'hono';

/** Swagger UI, from the jsDelivr CDN, pinned to one major version. */
const SWAGGER_UI = 'https://cdn.jsdelivr.net/npm/swagger-ui-dist@5';

/**
 * The API's docs page: Swagger UI rendering `openapi.json` (beside it). Its one inline
 * script runs under a per-response nonce; the page may load Swagger UI's script and style
 * from the CDN and fetch the document from this origin, nothing else.
 */
export function docsPage(c: Context) {
  const nonce = crypto.randomUUID().replaceAll('-', '');
  const csp = [
    "default-src 'none'",
    `script-src 'nonce-${nonce}' ${SWAGGER_UI}/`,
    `style-src ${SWAGGER_UI}/ 'unsafe-inline'`,
    "img-src 'self' data:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Gatehouse user API</title>
<link rel="stylesheet" href="${SWAGGER_UI}/swagger-ui.css">
</head>
<body>
<div id="docs"></div>
<script src="${SWAGGER_UI}/swagger-ui-bundle.js" nonce="${nonce}"></script>
<script nonce="${nonce}">
SwaggerUIBundle({ url: 'openapi.json', dom_id: '#docs' });
</script>
</body>
</html>
`;
  return c.html(html, 200, { 'Content-Security-Policy': csp, 'Cache-Control': 'max-age=60' });
}
