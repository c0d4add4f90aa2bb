/**
 * The abort state of one step attempt. It behaves like an `AbortController`,
 * but only builds one when the step reads `ctx.signal`: most steps never do,
 * and an `AbortController` plus its event listeners cost more than the rest
 * of the worker's bookkeeping for a short step. The runner waits on it
 * through a plain callback.
 */
export class StepAbort {
  private controller: AbortController | undefined;
  private abortReason: unknown;
  private isAborted = false;
  private listener: ((reason: unknown) => void) | undefined;

  get aborted(): boolean {
    return this.isAborted;
  }

  get reason(): unknown {
    return this.abortReason;
  }

  /** The signal handed to user code, made on first use. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.isAborted) {
        this.controller.abort(this.abortReason);
      }
    }
    return this.controller.signal;
  }

  abort(reason: unknown): void {
    if (this.isAborted) {
      return;
    }
    this.isAborted = true;
    this.abortReason = reason;
    this.controller?.abort(reason);
    this.listener?.(reason);
  }

  /** The runner's one listener: called once, when (or if already) aborted. */
  onAbort(listener: ((reason: unknown) => void) | undefined): void {
    this.listener = listener;
    if (listener && this.isAborted) {
      listener(this.abortReason);
    }
  }
}
