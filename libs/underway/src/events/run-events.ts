import { Injectable } from '@nestjs/common';
import { UnderwayEvents } from './underway-events';

/**
 * Tells `run.result()` at once when this process finished the run it waits
 * for (its `run:finished` event); other processes' runs are found by polling.
 * Listens only while some `result()` waits.
 */
@Injectable()
export class RunEvents {
  private readonly waiters = new Map<string, Set<() => void>>();
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly events: UnderwayEvents) {}

  /** Calls `listener` once when `runId` finishes here; returns an unsubscribe. */
  onFinished(runId: string, listener: () => void): () => void {
    let set = this.waiters.get(runId);
    if (!set) {
      set = new Set();
      this.waiters.set(runId, set);
    }
    set.add(listener);
    this.unsubscribe ??= this.events.on('run:finished', ({ runId }) =>
      this.finished(runId),
    );
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.waiters.get(runId) === set) {
        this.waiters.delete(runId);
      }
      this.stopListeningWhenIdle();
    };
  }

  private finished(runId: string): void {
    const set = this.waiters.get(runId);
    if (!set) {
      return;
    }
    this.waiters.delete(runId);
    for (const listener of set) {
      listener();
    }
    this.stopListeningWhenIdle();
  }

  private stopListeningWhenIdle(): void {
    if (this.waiters.size === 0 && this.unsubscribe) {
      this.unsubscribe();
      this.unsubscribe = undefined;
    }
  }
}
