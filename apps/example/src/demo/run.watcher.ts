import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { RunDetails, UnderwayEvents, WorkflowClient } from '@underway/nestjs';

interface Watch {
  stop(reason: Error): void;
}

/**
 * Waits, in the demo, until a run's details show something: reads them again
 * each time one of its attempts settles in this process (the worker's events),
 * with no polling. Stops every watch at shutdown.
 */
@Injectable()
export class RunWatcher implements OnModuleDestroy {
  private readonly watches = new Set<Watch>();

  constructor(
    private readonly events: UnderwayEvents,
    private readonly workflows: WorkflowClient,
  ) {}

  /**
   * Resolves with what `check` returns for run `runId`'s details once it is
   * not `undefined`.
   *
   * @throws Error after `timeoutMs`, or when the app shuts down
   */
  until<T>(
    runId: string,
    check: (run: RunDetails) => T | undefined,
    timeoutMs: number,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let reading = Promise.resolve();
      const stop = (reason: Error | undefined, value?: T): void => {
        if (!this.watches.delete(watch)) {
          return;
        }
        unsubscribe();
        clearTimeout(timer);
        if (reason) {
          reject(reason);
        } else {
          resolve(value as T);
        }
      };
      const watch: Watch = { stop };
      // One read at a time, in order: the last one sees the latest state.
      const read = (): void => {
        reading = reading
          .then(() => this.workflows.getRun(runId))
          .then((run) => {
            const value = run ? check(run) : undefined;
            if (value !== undefined) {
              stop(undefined, value);
            }
          })
          .catch((err: unknown) =>
            stop(err instanceof Error ? err : new Error(String(err))),
          );
      };
      const unsubscribe = this.events.on('attempt:settled', (event) => {
        if (event.runId === runId) {
          read();
        }
      });
      const timer = setTimeout(
        () =>
          stop(
            new Error(
              `Run ${runId} did not get where the demo expected within ${timeoutMs}ms`,
            ),
          ),
        timeoutMs,
      );
      this.watches.add(watch);
      read(); // what happened before the subscription
    });
  }

  onModuleDestroy(): void {
    for (const watch of [...this.watches]) {
      watch.stop(new Error('The app is shutting down'));
    }
  }
}
