/**
 * `T`, but not a place TypeScript infers type arguments from (the built-in
 * `NoInfer` of TypeScript 5.4, written so older compilers read it too).
 *
 * - `ctx.call`'s method is inferred from its name only: inferring it from the
 *   result's expected type (`Transition.complete(await ctx.call(…))`) would
 *   read every method of the workflow, the step's own included, whose type
 *   depends on that very call.
 * - The client's `TOutput` is given explicitly or not at all: inferred from
 *   an annotation (`const run: WorkflowRun<string> = await client.enqueue(…)`)
 *   it would silently replace the output a workflow declares.
 */
export type NotInferred<T> = [T][T extends unknown ? 0 : never];
