import { type Permission, PERMISSIONS } from '../../functions/_shared/auth/roles.ts';
import type { JsonClient } from '../shared/api.ts';
import type { Auth } from '../shared/auth.ts';

/** What every page gets: the admin API as the signed-in operator, and who that is. */
export interface ConsoleContext {
  readonly admin: JsonClient;
  readonly auth: Auth;
  readonly email: string;
  readonly role: string;
  /** Whether the role holds a permission (the API decides; this only hides what it would refuse). */
  can(permission: Permission): boolean;
}

/** A page draws into `main`; what it returns is called when the reader leaves it. */
export type Page = (
  ctx: ConsoleContext,
  main: HTMLElement,
  params: readonly string[],
) => (() => void) | void;

/** The one permission map the API checks (`functions/_shared/auth/roles.ts`). */
export function permissionsOf(role: string): readonly Permission[] {
  return (Object.keys(PERMISSIONS) as Permission[]).filter((permission) =>
    (PERMISSIONS[permission] as readonly string[]).includes(role)
  );
}

/**
 * Polls `tick` every `ms` while the page is shown and the tab visible; answers the stop.
 */
export function every(ms: number, tick: () => unknown): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const loop = async () => {
    if (stopped) return;
    if (document.visibilityState === 'visible') {
      try {
        await tick();
      } catch {
        // The page shows its own error; the next tick tries again.
      }
    }
    if (!stopped) timer = setTimeout(loop, ms);
  };
  timer = setTimeout(loop, ms);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
