// How the local server's Deno runs: the binary from node_modules, the V8 and glibc settings
// `npm start` gives the server, and a child process whose signals and exit are the caller's.
// `bin/gatehouse.mjs` (the CLI) and `bin/bench.mjs` (benchmarks that serve in process) both
// run through here, so a benchmark measures the server as `npm start` runs it.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import process from 'node:process';

const require = createRequire(import.meta.url);

/** The deno binary installed by npm; exits with one line when it is missing. */
export function denoBinary(prefix) {
  try {
    return require('deno/install_api.cjs').runInstall();
  } catch (error) {
    console.error(`${prefix}: cannot find the deno binary (${error.message}); run \`npm install\``);
    process.exit(1);
  }
}

// The server's JavaScript heap: V8 otherwise lets it grow with the allocation rate, and a
// flood of requests (each answered, most shed) took the process past 300 MB. Live data is
// bounded far below this by the admission caps. 0 leaves V8's own limits. With a limit the
// young generation is capped too (8 MB semi-spaces, V8's default grows them to 16 or 32):
// each isolate (the server, the embedded database's thread) reserves three of them, and
// 8 MB took 60-75 MB off the peak under load at no measurable CPU cost per request.
const SEMI_SPACE_MB = 8;
// V8 moves objects from an allocation site straight to the old generation once it sees most
// of them survive a young collection ("pretenuring"). Request-scoped objects met that test in
// bursts and were then allocated old for the rest of the process: they kept the young objects
// they point to alive through every scavenge until the next full collection. The intake path
// spent 5 % of its time in GC instead of 0.5 % (about a tenth more CPU per delivery); its
// scavenges promote 77 KB with the flag and 0.8-1.7 MB without. (It does not cure the same
// promotion set off by postgres.js batches: see `ownRows` in functions/_shared/db/postgres.ts.)
// Nothing the server keeps lives long enough to gain from it.
const V8_FLAGS = ['--no-allocation-site-pretenuring'];

/**
 * The `deno run` flags of the server (`GATEHOUSE_HEAP_MB` from `env`, 256 by default);
 * exits with one line when that setting is not one.
 */
export function serverDenoFlags(prefix, env = process.env) {
  const heapMb = env.GATEHOUSE_HEAP_MB ?? '256';
  if (!/^\d+$/.test(heapMb) || (Number(heapMb) !== 0 && Number(heapMb) < 64)) {
    console.error(
      `${prefix}: GATEHOUSE_HEAP_MB must be 0 or a whole number of at least 64, got ${heapMb}`,
    );
    process.exit(1);
  }
  const v8 = [
    ...V8_FLAGS,
    ...(Number(heapMb) > 0
      ? [`--max-old-space-size=${heapMb}`, `--max-semi-space-size=${SEMI_SPACE_MB}`]
      : []),
  ];
  return ['--unstable-no-legacy-abort', `--v8-flags=${v8.join(',')}`];
}

/**
 * Runs `deno` with `args` in `cwd`, forwarding Ctrl-C, SIGTERM and SIGHUP to it and ending
 * this process as it ends (its code, or its signal).
 */
export function runDeno(deno, args, cwd) {
  const child = spawn(deno, args, {
    stdio: 'inherit',
    cwd,
    // glibc's malloc, tuned for a flood of large bodies (each read, then dropped): it gives
    // each allocating thread an arena of its own and keeps freed memory there (two arenas
    // held about 40 MB less), and once a large block is freed it raises the size from which
    // blocks are mapped apart, so later bodies land in the heap and stay counted after they
    // are freed (a fixed 64 KiB threshold returns them: 40-80 MB less at the peak). Values
    // set in the environment win.
    env: { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '65536', ...process.env },
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      if (child.exitCode === null) child.kill(signal);
    });
  }
  child.on('exit', (code, signal) => {
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
  return child;
}
