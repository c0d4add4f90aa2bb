import { Injectable } from '@nestjs/common';

/**
 * In-process notice that a run reached a terminal state, so `run.result()`
 * resolves at once when this process's worker finished the run. Other
 * processes' runs are found by polling.
 */
@Injectable()
export class RunEvents {
  private readonly waiters = new Map<string, Set<() => void>>();

  /** Calls `listener` once when `runId` finishes here; returns an unsubscribe. */
  onFinished(runId: string, listener: () => void): () => void {
    let set = this.waiters.get(runId);
    if (!set) {
      set = new Set();
      this.waiters.set(runId, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) {
        this.waiters.delete(runId);
      }
    };
  }

  finished(runId: string): void {
    const set = this.waiters.get(runId);
    if (!set) {
      return;
    }
    this.waiters.delete(runId);
    for (const listener of set) {
      listener();
    }
  }
}
