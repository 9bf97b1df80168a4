/** Time source, injected so tests can control it. Milliseconds, like `Date.now()`. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
