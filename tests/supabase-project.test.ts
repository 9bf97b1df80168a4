/**
 * The Supabase project stays deployable: every function has a two-line entry, a
 * config.toml section, and a deno.json whose import map covers every package the function
 * imports, pinned to the version npm installed (so production runs what the tests ran).
 */
import { readdir, readFile, readlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FUNCTIONS } from '../cli/functions.ts';

const root = resolve(import.meta.dirname, '..');
const lock = JSON.parse(await readFile(join(root, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version: string }>;
};
const functionNames = (await readdir(join(root, 'supabase/functions'), { withFileTypes: true }))
  .filter((entry) => entry.isDirectory() && !entry.name.startsWith('_'))
  .map((entry) => entry.name)
  .sort();
const configToml = await readFile(join(root, 'supabase/config.toml'), 'utf8');

/** Bare package specifiers imported by `entry` and every relative module it reaches. */
async function bareImports(entry: string): Promise<Set<string>> {
  const seen = new Set<string>();
  const bare = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = await readFile(file, 'utf8');
    // Not a quoted word: SQL in a template (`jsonb_build_object('from', ...)`) is no import.
    for (const match of text.matchAll(/(?<![\w'.])(?:from|import)\s*\(?\s*'([^']+)'/g)) {
      const specifier = match[1]!;
      if (specifier.startsWith('.')) queue.push(resolve(dirname(file), specifier));
      else if (!specifier.startsWith('node:')) bare.add(specifier);
    }
  }
  return bare;
}

function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

describe('supabase project', () => {
  it('deploys exactly the functions the local server mounts', () => {
    expect(functionNames).toEqual(Object.keys(FUNCTIONS).sort());
  });

  it('shares one migrations folder with supabase db push', async () => {
    expect(await readlink(join(root, 'supabase/migrations'))).toBe('../migrations');
  });

  for (const name of functionNames) {
    describe(name, () => {
      it('has a short entry that only serves', async () => {
        const text = await readFile(join(root, 'supabase/functions', name, 'index.ts'), 'utf8');
        const code = text.split('\n').filter((line) => line.trim() && !line.startsWith('//'));
        expect(code.length).toBeLessThanOrEqual(4);
        expect(text).toContain('Deno.serve(');
      });

      it('is declared in config.toml with an explicit verify_jwt', () => {
        const section = configToml.split(/^\[/m).find((part) =>
          part.startsWith(`functions.${name}]`)
        );
        expect(section, `[functions.${name}] in supabase/config.toml`).toBeDefined();
        expect(section).toMatch(/verify_jwt = (true|false)/);
      });

      it('pins every imported package to the installed version', async () => {
        const denoJson = JSON.parse(
          await readFile(join(root, 'supabase/functions', name, 'deno.json'), 'utf8'),
        ) as { imports: Record<string, string> };
        const imports = await bareImports(join(root, 'supabase/functions', name, 'index.ts'));
        for (const specifier of imports) {
          const pkg = packageOf(specifier);
          const version = lock.packages[`node_modules/${pkg}`]?.version;
          expect(version, `${pkg} is installed`).toBeDefined();
          const key = specifier === pkg ? pkg : `${pkg}/`;
          const expected = specifier === pkg ? `npm:${pkg}@${version}` : `npm:/${pkg}@${version}/`;
          expect(denoJson.imports[key], `${name}/deno.json maps "${key}"`).toBe(expected);
        }
      });
    });
  }
});
