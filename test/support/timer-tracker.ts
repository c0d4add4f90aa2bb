import { createHook } from 'node:async_hooks';

/** Frames of timers that are not the code under test: Jest's reporters, the test's own waits. */
const IGNORED_FRAMES = [
  /[\\/]node_modules[\\/]@jest[\\/]/,
  /[\\/]node_modules[\\/]jest-[^\\/]+[\\/]/,
  /[\\/]test[\\/]support[\\/]wait-for\.ts/,
];

export interface TimerTracker {
  /** Creation stacks of the timers made since `trackTimers()` that are still armed. */
  live(): string[];
  stop(): void;
}

/**
 * Records every `setTimeout`/`setInterval` created from now on with its stack,
 * and forgets it when it fires for the last time or is cleared. What is left
 * after an app is closed is a timer the app leaked. (Counting
 * `process.getActiveResourcesInfo()` instead also counts Jest's own timers,
 * which come and go while the test runs.)
 */
export function trackTimers(): TimerTracker {
  const armed = new Map<number, string>();
  const hook = createHook({
    init(asyncId, type) {
      if (type !== 'Timeout') {
        return;
      }
      const stack = (new Error().stack ?? '').split('\n').slice(2).join('\n');
      if (!IGNORED_FRAMES.some((frame) => frame.test(stack))) {
        armed.set(asyncId, stack);
      }
    },
    destroy(asyncId) {
      armed.delete(asyncId);
    },
  }).enable();
  return {
    live: () => [...armed.values()],
    stop: () => {
      hook.disable();
    },
  };
}
