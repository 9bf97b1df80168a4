/**
 * Creates the embedded database in the folder named by its argument (initdb) and exits.
 * `startEmbeddedDatabase` runs it as a child process for a new data folder: initdb takes
 * PGlite's memory past 600 MB, and only a process that ends gives all of it back.
 *
 *   deno run --allow-read --allow-write --allow-env --config deno.json \
 *     cli/embedded-db-init.ts .data/pglite
 */
import process from 'node:process';
import { initEmbedded } from './embedded-db-server.ts';

const dataDir = process.argv[2];
if (!dataDir) {
  console.error('usage: embedded-db-init.ts <data folder>');
  process.exit(2);
}
await initEmbedded(dataDir);
