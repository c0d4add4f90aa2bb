/**
 * Type tests for child workflows, checked by `npm run typecheck`: every
 * `@ts-expect-error` below must be an error. The README's "Child workflows"
 * example is here too.
 */
import {
  ChildWorkflowFailedError,
  Step,
  StepContext,
  Transition,
  Workflow,
  WorkflowIO,
} from '@underway/nestjs';

// --- README: Child workflows --------------------------------------------------

export interface Thumbnail {
  fileId: number;
}

@Workflow({ name: 'thumbnail' })
export class ThumbnailWorkflow extends WorkflowIO<Thumbnail, { url: string }> {
  @Step()
  async render({ fileId }: Thumbnail) {
    return Transition.complete({
      url: `https://cdn.example.com/t/${fileId}.webp`,
    });
  }
}

@Workflow({ name: 'audit' })
export class AuditWorkflow extends WorkflowIO<{ batch: number }, void> {
  @Step()
  async record() {
    return Transition.complete();
  }
}

@Workflow({ name: 'batch' })
export class BatchWorkflow extends WorkflowIO<
  { files: { id: number }[] },
  { urls: string[] }
> {
  @Step()
  async thumbnails(
    { files }: { files: { id: number }[] },
    ctx: StepContext<BatchWorkflow>,
  ) {
    // One statement enqueues them all; the step resumes once every child ended.
    const thumbs = await Promise.all(
      files.map((f) => ctx.child(ThumbnailWorkflow, { fileId: f.id })),
    );
    const { runId } = await ctx.startChild(AuditWorkflow, {
      batch: files.length,
    }); // no wait
    void runId;
    return Transition.complete({ urls: thumbs.map((t) => t.url) });
  }
}

// --- Type checks ---------------------------------------------------------------

export async function typeChecks(ctx: StepContext) {
  // The output type flows from the child's WorkflowIO.
  const thumb = await ctx.child(ThumbnailWorkflow, { fileId: 1 });
  const url: string = thumb.url;
  void url;
  // @ts-expect-error no such field in the child's output
  void thumb.path;
  // @ts-expect-error the child's input is checked
  await ctx.child(ThumbnailWorkflow, { fileId: 'one' });
  // @ts-expect-error the input is required when the child declares one
  await ctx.child(ThumbnailWorkflow);
  // @ts-expect-error an unknown option
  await ctx.child(ThumbnailWorkflow, { fileId: 1 }, { parentclose: 'abandon' });
  // @ts-expect-error parentClose is 'cancel' or 'abandon'
  await ctx.child(ThumbnailWorkflow, { fileId: 1 }, { parentClose: 'detach' });
  const started: { runId: string } = await ctx.startChild(AuditWorkflow, {
    batch: 2,
  });
  void started;
  // A workflow named by a string: any input, an unknown output.
  const loose: unknown = await ctx.child('thumbnail', { anything: true });
  void loose;

  try {
    await ctx.child(
      ThumbnailWorkflow,
      { fileId: 2 },
      { parentClose: 'abandon' },
    );
  } catch (err) {
    if (err instanceof ChildWorkflowFailedError) {
      const state: 'failed' | 'cancelled' = err.state;
      void [state, err.childRunId, err.errorCode];
    }
  }
}
