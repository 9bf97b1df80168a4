#!/usr/bin/env node
// Runs the `gatehouse` CLI under Deno, using the `deno` binary from node_modules (no global
// install, no install scripts). Signals are forwarded so Ctrl-C and SIGTERM reach the
// server, which drains and exits on its own; our exit code is the child's.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');

let deno;
try {
  deno = require('deno/install_api.cjs').runInstall();
} catch (error) {
  console.error(`gatehouse: cannot find the deno binary (${error.message}); run \`npm install\``);
  process.exit(1);
}

const child = spawn(
  deno,
  [
    'run',
    '--allow-all',
    '--quiet',
    '--unstable-no-legacy-abort',
    '--config',
    join(root, 'deno.json'),
    join(root, 'cli/deno/main.ts'),
    ...process.argv.slice(2),
  ],
  { stdio: 'inherit', cwd: root },
);

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    if (child.exitCode === null) child.kill(signal);
  });
}

child.on('exit', (code, signal) => {
  if (signal) process.kill(process.pid, signal);
  else process.exit(code ?? 1);
});
