/**
 * A `background` that tracks each promise once: handed one it already tracks (every
 * delivery of a burst hands it the same coalesced kick of the worker), it does nothing. A
 * reaction added per call would live until the shared promise settles, seconds later, and
 * keep the request that added it (its context, its parsed body) alive that long.
 */
export function trackedOnce(
  track: (task: Promise<unknown>) => void,
): (task: Promise<unknown>) => void {
  const tracked = new WeakSet<Promise<unknown>>();
  return (task) => {
    if (tracked.has(task)) return;
    tracked.add(task);
    track(task);
  };
}
