import type { NotInferred } from '../model/not-inferred';

declare const workflowIO: unique symbol;

/**
 * Declares a workflow's input and output types, once, so that the client
 * checks what you enqueue and types what you get back:
 *
 * ```ts
 * @Workflow({ name: 'signup' })
 * export class SignupWorkflow extends WorkflowIO<Signup, { sentTo: string }> {
 *   constructor(private readonly users: UsersService) {
 *     super();
 *   }
 *   …
 * }
 *
 * const run = await client.enqueue(SignupWorkflow, { userId: 7 }); // checked: Signup
 * const { sentTo } = await run.result();                         // typed: { sentTo: string }
 * ```
 *
 * `extends`, not `implements`: decorators cannot change a class's type, and
 * `implements` only checks a class, so the types would not reach the client
 * (TypeScript refuses `implements WorkflowIO<…>` and suggests `extends`). The
 * class has no code and no run-time effect: it carries the two types for the
 * compiler. A class that already extends another can declare them by
 * declaration merging instead: `export interface MyWorkflow extends
 * WorkflowIO<In, Out> {}` next to the class.
 *
 * `TInput` is the first step's input (use `void` for a workflow run without
 * input: `enqueue(W)` then takes none); `TOutput` is what the last step
 * passes to `Transition.complete(output)` (`void` for none). These types are
 * a promise the compiler holds the client to; the steps' own parameter types
 * are yours to keep in line with them. A workflow that declares nothing keeps
 * `unknown` input and output; so does a workflow named by a string.
 *
 * @publicApi
 */
export abstract class WorkflowIO<TInput, TOutput> {
  /** Types only: never set at run time. */
  declare readonly [workflowIO]: {
    readonly input: TInput;
    readonly output: TOutput;
  };
}

/** The instance type of a workflow class, or `W` itself. */
type InstanceOf<W> = W extends abstract new (
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any constructor
  ...args: any
) => infer T
  ? T
  : W;

/**
 * The input a workflow declares with {@link WorkflowIO}, given its class
 * (`WorkflowInput<SignupWorkflow>`, or `WorkflowInput<typeof SignupWorkflow>`);
 * `unknown` for a workflow that declares none, or a workflow name.
 *
 * @publicApi
 */
export type WorkflowInput<W> =
  InstanceOf<W> extends {
    readonly [workflowIO]: { readonly input: infer TInput };
  }
    ? TInput
    : unknown;

/**
 * The output a workflow declares with {@link WorkflowIO} (what `run.result()`
 * resolves with); `unknown` for a workflow that declares none, or a name.
 *
 * @publicApi
 */
export type WorkflowOutput<W> =
  InstanceOf<W> extends {
    readonly [workflowIO]: { readonly output: infer TOutput };
  }
    ? TOutput
    : unknown;

/**
 * The arguments after the workflow in `enqueue(workflow, input?, options?)`:
 * the input may be left out only when the workflow's input admits
 * `undefined` (`void`, `T | undefined`, or `unknown` for an undeclared one).
 */
export type WorkflowInputArgs<W, TOptions> =
  undefined extends WorkflowInput<W>
    ? [input?: WorkflowInput<W>, options?: TOptions]
    : [input: WorkflowInput<W>, options?: TOptions];

/**
 * The output type of a run handle: `TOutput` when given explicitly
 * (`enqueue<Receipt>(…)`, for a workflow that declares nothing), else the
 * output `W` declares. `never`, the client's default, means "not given";
 * `TOutput` is never inferred (from an annotation of the result, say), so
 * that a declared output cannot be replaced by accident.
 */
export type RunOutput<TOutput, W> = [NotInferred<TOutput>] extends [never]
  ? WorkflowOutput<W>
  : NotInferred<TOutput>;
