import { resolve } from 'node:path';
import { defineConfig } from 'vite';

const here = new URL('.', import.meta.url).pathname;

/**
 * Two apps from one build: the operator console at `/` (`index.html`) and the reference
 * app's PWA at `/app/` (`app/index.html`). Files in `public/` are copied as they are (the
 * PWA's manifest, icons and service worker keep stable names); everything else gets a
 * content hash under `/assets/`, so it can be cached for good.
 */
export default defineConfig({
  root: here,
  base: '/',
  publicDir: resolve(here, 'public'),
  logLevel: 'warn',
  build: {
    outDir: resolve(here, 'dist'),
    emptyOutDir: true,
    target: 'es2022',
    manifest: true,
    sourcemap: false,
    // Inlined assets would arrive as data: URLs; the CSP allows them for images only.
    assetsInlineLimit: 0,
    rolldownOptions: {
      input: {
        console: resolve(here, 'index.html'),
        app: resolve(here, 'app/index.html'),
      },
    },
  },
});
