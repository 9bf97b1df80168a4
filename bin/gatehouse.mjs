#!/usr/bin/env node
// Runs the `gatehouse` CLI under Deno, using the `deno` binary from node_modules (no global
// install, no install scripts), with the server's runtime settings (bin/deno-runtime.mjs).
// Signals are forwarded so Ctrl-C and SIGTERM reach the server, which drains and exits on
// its own; our exit code is the child's.
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { denoBinary, runDeno, serverDenoFlags } from './deno-runtime.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const deno = denoBinary('gatehouse');
const flags = serverDenoFlags('gatehouse');

// `start` serves the web build: make it first when it is missing or older than its sources.
if (process.argv[2] === 'start') {
  const { ensureWebBuild } = await import('../web/build.mjs');
  try {
    await ensureWebBuild((line) => console.log(`gatehouse: ${line}`));
  } catch (error) {
    console.error(`gatehouse: ${error.message}`);
    process.exit(1);
  }
}

runDeno(deno, [
  'run',
  '--allow-all',
  '--quiet',
  ...flags,
  '--config',
  join(root, 'deno.json'),
  join(root, 'cli/deno/main.ts'),
  ...process.argv.slice(2),
], root);
