// The web build: the operator console (`/`) and the PWA (`/app/`), made by Vite into
// `web/dist`. `npm start` calls `ensureWebBuild()`, which builds only when the build is
// missing or older than its sources; `npm run build:web` always builds and then checks the
// JavaScript budget. Runs under Node (Vite is a Node tool), before the server starts.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const web = dirname(fileURLToPath(import.meta.url));
const root = join(web, '..');
export const DIST = join(web, 'dist');
const STAMP = '.source-hash';
/** Gzipped JavaScript each app may load, all chunks it can reach counted. */
export const JS_BUDGET_BYTES = 150 * 1024;
/** The apps and the HTML entry each is built from. */
export const APPS = { console: 'index.html', app: 'app/index.html' };

async function* sourceFiles(folder) {
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    if (['dist', 'node_modules'].includes(entry.name) || entry.name.startsWith('.')) continue;
    const path = join(folder, entry.name);
    if (entry.isDirectory()) yield* sourceFiles(path);
    else yield path;
  }
}

/** One hash over every source file's name and bytes, and the lock file (Vite's version). */
export async function sourceHash() {
  const hash = createHash('sha256');
  const files = [];
  for await (const file of sourceFiles(web)) files.push(file);
  files.push(join(root, 'package-lock.json'));
  for (const file of files.sort()) {
    hash.update(relative(root, file)).update('\0');
    hash.update(existsSync(file) ? await readFile(file) : '').update('\0');
  }
  return hash.digest('hex');
}

/**
 * Builds into a fresh folder and swaps it in, so a server reading `dist` meanwhile sees
 * either the old build or the new one, never half of one.
 */
export async function buildWeb() {
  const hash = await sourceHash();
  const { build } = await import('vite');
  const next = `${DIST}.next-${process.pid}`;
  await build({
    configFile: join(web, 'vite.config.ts'),
    build: { outDir: next },
    logLevel: 'warn',
  });
  await writeFile(join(next, STAMP), `${hash}\n`);
  const old = `${DIST}.old-${process.pid}`;
  // Two starts building at once both finish: whichever swaps in last wins, and a swap
  // that finds the other's build in place keeps it (both were made from the same sources).
  await rename(DIST, old).catch((error) => {
    if (error.code !== 'ENOENT') throw error;
  });
  await rename(next, DIST).catch(async (error) => {
    if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
    await rm(next, { recursive: true, force: true });
  });
  await rm(old, { recursive: true, force: true });
  return hash;
}

/** Whether `dist` was built from the sources as they are now. */
export async function webBuildIsFresh() {
  try {
    const stamp = (await readFile(join(DIST, STAMP), 'utf8')).trim();
    return stamp === await sourceHash();
  } catch {
    return false;
  }
}

/**
 * Builds when the build is missing or stale; prints one line when it does. A machine
 * without Vite (installed with `--omit=dev`) keeps serving the build it has.
 */
export async function ensureWebBuild(print = (line) => console.log(line)) {
  if (await webBuildIsFresh()) return 'fresh';
  try {
    await import('vite');
  } catch {
    if (existsSync(join(DIST, 'index.html'))) return 'stale';
    throw new Error('the web build is missing and Vite is not installed: run `npm install`');
  }
  const started = Date.now();
  print(`building the console and the PWA into web/dist (their sources changed)...`);
  await buildWeb();
  print(`web build done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return 'built';
}

/**
 * Each app's JavaScript: the chunks its entry reaches through static and dynamic imports,
 * from Vite's manifest, with their gzipped sizes.
 */
export async function jsSizes(dist = DIST) {
  const manifest = JSON.parse(await readFile(join(dist, '.vite', 'manifest.json'), 'utf8'));
  const sizes = {};
  for (const [app, entry] of Object.entries(APPS)) {
    const files = new Set();
    const visit = (key) => {
      const chunk = manifest[key];
      if (!chunk || files.has(chunk.file)) return;
      if (chunk.file.endsWith('.js')) files.add(chunk.file);
      for (const next of [...(chunk.imports ?? []), ...(chunk.dynamicImports ?? [])]) visit(next);
    };
    visit(entry);
    let raw = 0;
    let gzip = 0;
    for (const file of files) {
      const bytes = await readFile(join(dist, file));
      raw += bytes.length;
      gzip += gzipSync(bytes, { level: 9 }).length;
    }
    sizes[app] = { files: [...files], raw, gzip };
  }
  return sizes;
}

const kB = (bytes) => `${(bytes / 1024).toFixed(1)} kB`;

async function main() {
  const started = Date.now();
  await buildWeb();
  console.log(`built web/dist in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  let over = false;
  for (const [app, size] of Object.entries(await jsSizes())) {
    const fits = size.gzip <= JS_BUDGET_BYTES;
    over ||= !fits;
    console.log(
      `${app.padEnd(8)} JavaScript ${kB(size.gzip)} gzipped (${kB(size.raw)} raw, ` +
        `${size.files.length} file(s)); budget ${kB(JS_BUDGET_BYTES)}: ${fits ? 'ok' : 'OVER'}`,
    );
  }
  if (over) {
    console.error('the JavaScript budget is exceeded');
    process.exitCode = 1;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error) => {
    console.error(`web build failed: ${error.message}`);
    process.exitCode = 1;
  });
}
