/**
 * Gives back to the system the memory glibc's allocator holds freed: `malloc_trim(0)`
 * through Deno's FFI. glibc returns freed memory on its own only from the top of an
 * arena's heap, so whatever is freed below a block still in use stays resident. The
 * embedded database's start (compiling PGlite's WebAssembly, opening it) and V8's
 * background compilations later leave tens of MB so in the arena the other threads share:
 * the trim after start-up takes a new embedded server from about 300 to 230 MB, and under
 * load each trim gives back the 20-30 MB freed since the last. The local server trims after
 * start-up and then every {@link RELEASE_MEMORY_EVERY_MS}.
 *
 * Only where it exists (Linux with glibc, and the FFI permission `--allow-all` grants);
 * anywhere else it does nothing, once decided. The call runs on a thread of Deno's, not
 * the server's (5-10 ms under load, arenas locked one at a time).
 */

/** How often the local server hands freed memory back. */
export const RELEASE_MEMORY_EVERY_MS = 10_000;

import { type Periodic, runPeriodically } from '../periodic.ts';

type Trim = () => Promise<unknown>;

let trim: Trim | null | undefined;

function openTrim(): Trim | null {
  if (Deno.build.os !== 'linux') return null;
  try {
    const libc = Deno.dlopen('libc.so.6', {
      malloc_trim: { parameters: ['usize'], result: 'i32', nonblocking: true },
    });
    return () => libc.symbols.malloc_trim(0n);
  } catch {
    // musl, no FFI permission, no libc.so.6: nothing to trim with.
    return null;
  }
}

/**
 * Returns the allocator's freed memory to the system; resolves false where that cannot be
 * done (not glibc, or FFI not allowed). Never rejects.
 *
 * @example
 * ```ts
 * const running = await startGatehouse(options);
 * await releaseFreedMemory();
 * ```
 */
export async function releaseFreedMemory(): Promise<boolean> {
  if (trim === undefined) trim = openTrim();
  if (trim === null) return false;
  try {
    await trim();
    return true;
  } catch {
    return false;
  }
}

/**
 * Trims now and then every `everyMs` until stopped; the timer does not keep the process
 * alive.
 */
export function releaseFreedMemoryPeriodically(
  everyMs: number = RELEASE_MEMORY_EVERY_MS,
): Periodic {
  return runPeriodically(releaseFreedMemory, everyMs, () => {}, {
    immediately: true,
    unref: true,
  });
}
