/**
 * The embedded database in a worker thread (Deno): PGlite executes a query synchronously
 * on the thread that owns it, so on the server's own thread one long statement stopped
 * every timer and socket of the process, and no deadline could fire (a `/health/ready`
 * probe hung 9.5 s behind one). Here it blocks only this thread.
 *
 * Messages in: `{ type: 'start', dataDir?, port }`, `{ type: 'stop' }`.
 * Messages out: `{ type: 'started', port }`, `{ type: 'failed', message, code? }`,
 * `{ type: 'stopped' }`.
 */
import { type EmbeddedServer, serveEmbedded } from './embedded-db-server.ts';

interface WorkerScope {
  onmessage: ((event: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
}

const scope = globalThis as unknown as WorkerScope;
let server: EmbeddedServer | null = null;

scope.onmessage = async (event: MessageEvent) => {
  const message = event.data as { type: string; dataDir?: string; port?: number };
  if (message.type === 'start') {
    try {
      server = await serveEmbedded({ dataDir: message.dataDir, port: message.port });
      scope.postMessage({ type: 'started', port: server.port });
    } catch (error) {
      const { message: text, code } = error as { message?: string; code?: unknown };
      scope.postMessage({
        type: 'failed',
        message: text ?? String(error),
        code: typeof code === 'string' ? code : undefined,
      });
    }
  } else if (message.type === 'stop') {
    try {
      await server?.stop();
    } finally {
      server = null;
      scope.postMessage({ type: 'stopped' });
    }
  }
};
