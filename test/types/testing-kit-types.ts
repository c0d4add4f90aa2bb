/**
 * Type tests of the testing kit (@underway/nestjs/testing), checked by `npm
 * run typecheck`: every `@ts-expect-error` below must be an error.
 */
import {
  Activity,
  defineSignal,
  Step,
  StepContext,
  Transition,
  Workflow,
  WorkflowIO,
} from '@underway/nestjs';
import type { UnderwayTestKit } from '@underway/nestjs/testing';

const Approval = defineSignal<{ approved: boolean }>('approval');

@Workflow({ name: 'typed-greeting' })
class GreetingWorkflow extends WorkflowIO<{ name: string }, { text: string }> {
  @Activity()
  async render(name: string, shout: boolean): Promise<string> {
    return shout ? name.toUpperCase() : name;
  }

  @Step()
  async greet(input: { name: string }, ctx: StepContext<GreetingWorkflow>) {
    return Transition.complete({
      text: await ctx.call('render', input.name, false),
    });
  }
}

@Workflow({ name: 'untyped' })
class UntypedWorkflow {
  @Step()
  async only() {
    return Transition.complete(42);
  }
}

export async function typeChecks(kit: UnderwayTestKit): Promise<void> {
  // runToCompletion is typed as enqueue: the declared input, the declared output.
  const { text }: { text: string } = await kit.runToCompletion(
    GreetingWorkflow,
    { name: 'ada' },
  );
  void text;
  // @ts-expect-error not the declared input
  await kit.runToCompletion(GreetingWorkflow, { nom: 'ada' });
  // @ts-expect-error the input is required
  await kit.runToCompletion(GreetingWorkflow);
  // @ts-expect-error the output is { text: string }
  const wrong: number = await kit.runToCompletion(GreetingWorkflow, {
    name: 'x',
  });
  void wrong;
  // Undeclared: unknown, or the type given.
  const unknownOutput: unknown = await kit.runToCompletion(UntypedWorkflow, {});
  const given: number = await kit.runToCompletion<number>('untyped', {});
  void unknownOutput;
  void given;

  // finish() returns the run's output type.
  const run = await kit.client.enqueue(GreetingWorkflow, { name: 'x' });
  const finished: { text: string } = await kit.finish(run);
  void finished;

  // mockActivity: the method's name, its parameters, its result.
  const restore: () => void = kit.mockActivity(
    GreetingWorkflow,
    'render',
    (name, shout) => (shout ? name : `${name}!`),
  );
  restore();
  kit.mockActivity(GreetingWorkflow, 'render', async () => 'fine');
  // @ts-expect-error not a member of the workflow
  kit.mockActivity(GreetingWorkflow, 'rendre', () => 'x');
  // @ts-expect-error the activity returns a string
  kit.mockActivity(GreetingWorkflow, 'render', () => 42);
  // @ts-expect-error its first parameter is a string
  kit.mockActivity(GreetingWorkflow, 'render', (name: number) => `${name}`);
  // By name: untyped.
  kit.mockActivity('typed-greeting', 'render', () => 42);

  // signal: client.signal's signature.
  await kit.signal(run.id, Approval, { approved: true });
  // @ts-expect-error a payload of the wrong shape
  await kit.signal(run.id, Approval, { approved: 'yes' });

  // events.next: the event's payload, fields checked against it.
  const finishedEvent = await kit.events.next('run:finished', {
    runId: run.id,
    state: 'succeeded',
  });
  const state: 'succeeded' | 'failed' | 'cancelled' = finishedEvent.state;
  void state;
  // @ts-expect-error not a state a run finishes in
  await kit.events.next('run:finished', { state: 'done' });
  // @ts-expect-error not an event
  await kit.events.next('run:done');
  await kit.events.next(
    'attempt:settled',
    { step: 'greet' },
    { timeout: '1s' },
  );

  // The clock takes durations.
  await kit.clock.advance('3d');
  await kit.clock.advance(1_500);
  // @ts-expect-error a duration, not a date
  await kit.clock.advance(new Date());
  const now: Date = kit.clock.now();
  void now;
  const drained: number = await kit.drain();
  void drained;
}
