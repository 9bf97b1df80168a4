/**
 * The rules of the house (ARCHITECTURE §1), checked on the source: which folder may import
 * which, who reads the environment, and that runtime code never reaches test helpers.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from './support/process.ts';

const FUNCTIONS = join(projectRoot, 'functions');
/** Runtime files only: tests beside the code may use test helpers. */
const isRuntime = (file: string) => file.endsWith('.ts') && !file.endsWith('.test.ts');
const MAX_LINES = 400;

function walk(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    if (entry.name.startsWith('.') || entry.name === 'node_modules') return [];
    const path = join(folder, entry.name);
    return entry.isDirectory() ? walk(path) : [path];
  });
}

/** The source without comments, so a documented `Deno.env` example is no violation. */
function code(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

/** What `file` imports: resolved paths for relative specifiers, bare names otherwise. */
function importsOf(file: string): string[] {
  const source = code(readFileSync(file, 'utf8'));
  const specifiers = [
    ...source.matchAll(/\b(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g),
  ].map((match) => match[1]!);
  return specifiers.map((spec) => (spec.startsWith('.') ? resolve(dirname(file), spec) : spec));
}

/** `webhooks` for functions/webhooks/..., `_shared`, `_app`; null outside functions/. */
function room(path: string): string | null {
  const inside = relative(FUNCTIONS, path);
  if (inside.startsWith('..')) return null;
  return inside.split('/')[0] ?? null;
}

const runtimeFiles = walk(FUNCTIONS).filter(isRuntime);
const cliFiles = walk(join(projectRoot, 'cli')).filter(isRuntime);

/** Every import of `files` that `allowed(from, to)` refuses, as `file -> target` lines. */
function violations(files: string[], refused: (from: string, to: string) => boolean): string[] {
  return files.flatMap((file) =>
    importsOf(file).filter((target) => refused(file, target)).map((target) =>
      `${relative(projectRoot, file)} -> ${
        target.startsWith('/') ? relative(projectRoot, target) : target
      }`
    )
  );
}

describe('the rules of the house', () => {
  it('finds the source it checks', () => {
    expect(runtimeFiles.length).toBeGreaterThan(50);
    expect(importsOf(join(FUNCTIONS, '_app', 'index.ts'))).toContain(
      join(FUNCTIONS, '_shared', 'app.ts'),
    );
  });

  it('a function folder never imports another function folder', () => {
    const found = violations(runtimeFiles, (from, to) => {
      const source = room(from);
      const target = room(to);
      return source !== null && !source.startsWith('_') && target !== null &&
        !target.startsWith('_') && target !== source;
    });
    expect(found).toEqual([]);
  });

  it('_shared imports neither a function folder nor _app; _app only _shared', () => {
    const found = violations(runtimeFiles, (from, to) => {
      const source = room(from);
      const target = room(to);
      if (target === null || target === source) return false;
      if (source === '_shared') return true;
      return source === '_app' && target !== '_shared';
    });
    expect(found).toEqual([]);
  });

  it('runtime code never imports test helpers or test tools', () => {
    const tests = join(projectRoot, 'tests');
    const found = violations(
      [...runtimeFiles, ...cliFiles],
      (_from, to) =>
        to.startsWith(`${tests}/`) || /^(vitest|fast-check)(\/|$)/.test(to) ||
        /\/testing\//.test(to),
    );
    expect(found).toEqual([]);
  });

  it('only entry points read the environment', () => {
    // The functions' entries live in supabase/functions/ (and the local server), the CLI's is
    // cli/deno/main.ts: everything else is handed the settings it needs.
    const entries = [join(projectRoot, 'cli', 'deno', 'main.ts')];
    const readers = [...runtimeFiles, ...cliFiles].filter((file) =>
      !entries.includes(file) &&
      /\b(Deno\.env|process\.env)\b/.test(code(readFileSync(file, 'utf8')))
    ).map((file) => relative(projectRoot, file));
    expect(readers).toEqual([]);
  });

  it('the worker loop receives the store: it imports store.ts for types only', () => {
    const loop = ['worker.ts', 'run-job.ts'].map((name) =>
      join(FUNCTIONS, '_shared', 'queue', name)
    );
    const valueImports = loop.filter((file) =>
      /import\s+(?!type\b)[^;]*from\s+'\.\/store\.ts'/.test(code(readFileSync(file, 'utf8')))
    );
    expect(valueImports).toEqual([]);
    expect(code(readFileSync(loop[0]!, 'utf8'))).toMatch(
      /import type \{ JobStore \} from '\.\/store\.ts'/,
    );
  });

  it(`no file in functions/ or cli/ is over ${MAX_LINES} lines`, () => {
    // Tests beside the code included.
    const every = [...walk(FUNCTIONS), ...walk(join(projectRoot, 'cli'))]
      .filter((file) => file.endsWith('.ts'));
    const long = every.flatMap((file) => {
      const lines = readFileSync(file, 'utf8').split('\n').length;
      return lines > MAX_LINES ? [`${relative(projectRoot, file)}: ${lines}`] : [];
    });
    expect(long).toEqual([]);
  });
});
