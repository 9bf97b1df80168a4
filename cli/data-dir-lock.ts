import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import process from 'node:process';

/** Who holds a data folder: its pid, and the URL its embedded database serves, once up. */
export interface LockHolder {
  readonly pid: number;
  readonly url: string | null;
}

/**
 * PGlite has no lock of its own: two processes on one data folder corrupt it. The local
 * server and the CLI take this pid-file lock before opening `.data/pglite`. A holder names
 * its process and, once its embedded database listens, the database's URL, so another
 * command can reach the database through it (`holder`) instead of opening the files.
 */
export class DataDirLockedError extends Error {
  override readonly name = 'DataDirLockedError';
  constructor(message: string, readonly holder: LockHolder | null = null) {
    super(message);
  }
}

export interface DataDirLock {
  /** Records the URL the embedded database serves, for other commands to reach it by. */
  announce(url: string): Promise<void>;
  release(): Promise<void>;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as { code?: string }).code === 'EPERM';
  }
}

/** The lock file: the holder's pid on the first line, its database URL on the second. */
function parseHolder(text: string): LockHolder | null {
  const [pid, url] = text.split('\n').map((line) => line.trim());
  const holder = Number(pid);
  if (!Number.isInteger(holder) || holder <= 0) return null;
  return { pid: holder, url: url && /^postgres(ql)?:\/\//.test(url) ? url : null };
}

/** Takes the lock on `dataDir`, or throws `DataDirLockedError` naming its live holder. */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  await mkdir(dataDir, { recursive: true });
  const path = join(dataDir, 'gatehouse.pid');
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      await writeFile(path, `${process.pid}\n`, { flag: 'wx' });
      return {
        async announce(url) {
          // Written aside and renamed over, so a reader never sees half a file.
          const next = `${path}.${process.pid}`;
          await writeFile(next, `${process.pid}\n${url}\n`);
          await rename(next, path);
        },
        async release() {
          await rm(path, { force: true });
        },
      };
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST') throw error;
      const holder = parseHolder(await readFile(path, 'utf8').catch(() => ''));
      if (holder && holder.pid !== process.pid && isAlive(holder.pid)) {
        throw new DataDirLockedError(
          `${dataDir} is in use by another Gatehouse process (pid ${holder.pid}); stop it ` +
            'first, or set GATEHOUSE_DATA_DIR to another folder',
          holder,
        );
      }
      // A stale lock left by a process that died: remove it and try once more.
      await rm(path, { force: true });
    }
  }
  throw new DataDirLockedError(`could not lock ${dataDir}`);
}
