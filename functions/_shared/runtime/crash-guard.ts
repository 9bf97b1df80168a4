import { recoverFromDriverFault } from '../db/postgres.ts';
import type { Logger } from '../log/index.ts';
import { currentRequestId } from '../log/request-context.ts';

/** How many faults the process survived since it started. */
export interface FaultCounts {
  /** Promises that rejected with nobody to handle them. */
  readonly unhandledRejections: number;
  /** Exceptions thrown outside any promise (timers, socket callbacks). */
  readonly uncaughtErrors: number;
  /** Of those, the database driver's closed-socket fault (its pools were replaced). */
  readonly driverFaults: number;
}

export interface CrashGuard {
  counts(): FaultCounts;
  /** Removes the listeners (tests; a process keeps its guard for its whole life). */
  uninstall(): void;
}

/** The events the guard listens to; `globalThis` under Deno (and Supabase's edge runtime). */
export interface FaultEventTarget {
  addEventListener(type: string, listener: (event: Event) => void): void;
  removeEventListener(type: string, listener: (event: Event) => void): void;
}

interface RejectionEvent extends Event {
  readonly reason?: unknown;
}

interface ErrorEvent extends Event {
  readonly error?: unknown;
  readonly message?: string;
}

/**
 * Keeps a server up through errors nobody caught. Deno ends the process on an unhandled
 * rejection or an uncaught exception; one stray promise (a database call failing after its
 * request was answered) would take every in-flight delivery down with it. Each is instead
 * logged at `error` with the request it came from (`request_id`, when it happened inside
 * one), counted, and the process serves on. The postgres.js closed-socket fault also has
 * the database pools replaced, since it leaves a connection unusable (db/driver-guard.ts).
 *
 * Install it once, in the entry point, before serving.
 *
 * @example
 * const guard = installCrashGuard({ logger });
 * // later, e.g. in /health: guard.counts().unhandledRejections
 */
export function installCrashGuard(options: {
  logger: Logger;
  target?: FaultEventTarget;
}): CrashGuard {
  const target = options.target ?? (globalThis as unknown as FaultEventTarget);
  const logger = options.logger.child({ component: 'crash-guard' });
  let unhandledRejections = 0;
  let uncaughtErrors = 0;
  let driverFaults = 0;

  const context = () => {
    const requestId = currentRequestId();
    return requestId === undefined ? {} : { request_id: requestId };
  };

  const onRejection = (event: Event) => {
    event.preventDefault();
    unhandledRejections += 1;
    logger.error('unhandled rejection', {
      ...context(),
      error: (event as RejectionEvent).reason,
      total: unhandledRejections,
    });
  };

  const onError = (event: Event) => {
    event.preventDefault();
    const error = (event as ErrorEvent).error ?? (event as ErrorEvent).message;
    uncaughtErrors += 1;
    if (recoverFromDriverFault(error)) {
      driverFaults += 1;
      logger.warn('database driver wrote to a closed connection; pools replaced', {
        ...context(),
        error,
        total: driverFaults,
      });
      return;
    }
    logger.error('uncaught exception', { ...context(), error, total: uncaughtErrors });
  };

  // A rejection reported unhandled and then handled after all (its handler was attached a
  // turn late, e.g. when an uncaught exception interrupted the turn that would have
  // attached it) was not lost: it is taken back from the count.
  const onHandledLate = (event: Event) => {
    unhandledRejections = Math.max(0, unhandledRejections - 1);
    logger.warn('a rejection reported unhandled was handled after all', {
      ...context(),
      error: (event as RejectionEvent).reason,
    });
  };

  target.addEventListener('unhandledrejection', onRejection);
  target.addEventListener('rejectionhandled', onHandledLate);
  target.addEventListener('error', onError);
  return {
    counts: () => ({ unhandledRejections, uncaughtErrors, driverFaults }),
    uninstall() {
      target.removeEventListener('unhandledrejection', onRejection);
      target.removeEventListener('rejectionhandled', onHandledLate);
      target.removeEventListener('error', onError);
    },
  };
}
