import { describe, expect, it } from 'vitest';
import { capturedLogger } from '../../../tests/support/logs.ts';
import { withRequestContext } from '../log/request-context.ts';
import { installCrashGuard } from './crash-guard.ts';

/** What Deno dispatches on `globalThis`; built by hand here, since Node has no such events. */
function rejection(reason: unknown): Event {
  return Object.assign(new Event('unhandledrejection', { cancelable: true }), { reason });
}

function uncaught(error: unknown): Event {
  return Object.assign(new Event('error', { cancelable: true }), { error });
}

/** The TypeError postgres.js throws from its writer after a connection closed. */
function driverFault(): TypeError {
  const error = new TypeError("Cannot read properties of null (reading 'write')");
  error.stack =
    `${error.message}\n    at Immediate.nextWrite (file:///app/node_modules/postgres/src/connection.js:255:22)`;
  return error;
}

describe('installCrashGuard', () => {
  it('logs an unhandled rejection with the request it came from, counts it, and keeps the process', () => {
    const target = new EventTarget();
    const logs = capturedLogger();
    const guard = installCrashGuard({ logger: logs.logger, target });
    const event = rejection(new Error('BEGIN failed: database unavailable'));
    withRequestContext({ requestId: 'req-42' }, () => target.dispatchEvent(event));
    expect(event.defaultPrevented).toBe(true); // Deno does not end the process
    expect(guard.counts()).toEqual({ unhandledRejections: 1, uncaughtErrors: 0, driverFaults: 0 });
    const [line] = logs.entries();
    expect(line).toMatchObject({
      level: 'error',
      msg: 'unhandled rejection',
      request_id: 'req-42',
      component: 'crash-guard',
      total: 1,
    });
    expect(JSON.stringify(line)).toContain('BEGIN failed');
    guard.uninstall();
    target.dispatchEvent(rejection(new Error('after uninstall')));
    expect(guard.counts().unhandledRejections).toBe(1);
  });

  it('takes back a rejection that was handled after it was reported unhandled', () => {
    const target = new EventTarget();
    const logs = capturedLogger();
    const guard = installCrashGuard({ logger: logs.logger, target });
    const reason = new Error('handled a turn late');
    target.dispatchEvent(rejection(reason));
    expect(guard.counts().unhandledRejections).toBe(1);
    target.dispatchEvent(Object.assign(new Event('rejectionhandled'), { reason }));
    expect(guard.counts().unhandledRejections).toBe(0);
    expect(logs.entries().map((line) => [line.level, line.msg])).toEqual([
      ['error', 'unhandled rejection'],
      ['warn', 'a rejection reported unhandled was handled after all'],
    ]);
    guard.uninstall();
  });

  it('logs an uncaught exception without a request id when none is known', () => {
    const target = new EventTarget();
    const logs = capturedLogger();
    const guard = installCrashGuard({ logger: logs.logger, target });
    const event = uncaught(new RangeError('boom in a timer'));
    target.dispatchEvent(event);
    expect(event.defaultPrevented).toBe(true);
    expect(guard.counts()).toEqual({ unhandledRejections: 0, uncaughtErrors: 1, driverFaults: 0 });
    const [line] = logs.entries();
    expect(line).toMatchObject({ level: 'error', msg: 'uncaught exception' });
    expect(line).not.toHaveProperty('request_id');
  });

  it('recognises the postgres.js closed-socket fault and says the pools were replaced', () => {
    const target = new EventTarget();
    const logs = capturedLogger();
    const guard = installCrashGuard({ logger: logs.logger, target });
    target.dispatchEvent(uncaught(driverFault()));
    // The same message from anywhere else is an ordinary uncaught exception.
    target.dispatchEvent(
      uncaught(new TypeError("Cannot read properties of null (reading 'write')")),
    );
    expect(guard.counts()).toEqual({ unhandledRejections: 0, uncaughtErrors: 2, driverFaults: 1 });
    expect(logs.entries().map((line) => [line.level, line.msg])).toEqual([
      ['warn', 'database driver wrote to a closed connection; pools replaced'],
      ['error', 'uncaught exception'],
    ]);
  });
});
