import type { Auth } from '../shared/auth.ts';
import type { UserApi } from './api.ts';

/** The signed-in user as the app knows them (from the session, or the kept one offline). */
export interface User {
  readonly id: string;
  readonly email: string | null;
}

/** What every view gets. */
export interface AppContext {
  readonly api: UserApi;
  readonly auth: Auth;
  readonly user: User;
  /** Goes to another view: `/app/`, `/app/vehicles`, `/app/qr`. */
  navigate(path: string, options?: { replace?: boolean }): void;
  /** A message for the next view to show (e.g. "Ride requested"), said once. */
  flash(message: string): void;
  /** The message left by {@link flash}, taken (null when none). */
  takeFlash(): string | null;
  /** Called when kept data may be refreshed (back online, the service worker took over). */
  onRefresh(listener: () => void): void;
  /** The session is over (a 401): back to the sign-in form, saying why. */
  signedOut(message: string): void;
}

/** A view renders into `main`; what it answers is called when the view is left. */
export type View = (
  ctx: AppContext,
  main: HTMLElement,
  query: URLSearchParams,
) => (() => void) | void;
