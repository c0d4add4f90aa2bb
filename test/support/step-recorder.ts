/** Records which steps ran, with their input and attempt, for assertions. */
export interface StepCall {
  readonly step: string;
  readonly input: unknown;
  readonly attempt: number;
  readonly runId: string;
  readonly at: number;
}

export class StepRecorder {
  readonly calls: StepCall[] = [];

  record(
    step: string,
    input: unknown,
    ctx: { attempt: number; runId: string },
  ): void {
    this.calls.push({
      step,
      input,
      attempt: ctx.attempt,
      runId: ctx.runId,
      at: Date.now(),
    });
  }

  steps(runId?: string): string[] {
    return this.calls
      .filter((c) => !runId || c.runId === runId)
      .map((c) => c.step);
  }

  count(step: string, runId?: string): number {
    return this.calls.filter(
      (c) => c.step === step && (!runId || c.runId === runId),
    ).length;
  }

  clear(): void {
    this.calls.length = 0;
  }
}
