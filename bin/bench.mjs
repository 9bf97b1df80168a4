#!/usr/bin/env node
// Runs a benchmark that serves Gatehouse in its own process (`node bin/bench.mjs
// bench/intake.ts --rounds 5`) under Deno with the settings `npm start` gives the server
// (bin/deno-runtime.mjs), so what it measures is the server as it runs.
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { denoBinary, runDeno, serverDenoFlags } from './deno-runtime.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [script, ...args] = process.argv.slice(2);
if (!script) {
  console.error('bench: name the benchmark to run, e.g. node bin/bench.mjs bench/intake.ts');
  process.exit(1);
}
runDeno(denoBinary('bench'), [
  'run',
  '--allow-all',
  ...serverDenoFlags('bench'),
  '--config',
  join(root, 'deno.json'),
  join(root, script),
  ...args,
], root);
