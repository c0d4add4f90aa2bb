import { SetMetadata } from '@nestjs/common';
import { WORKFLOW_METADATA } from '../underway.constants';
import type { WorkflowOptions } from './workflow-options.interface';

/**
 * Marks a provider class as a durable workflow. Its `@Step()` methods run in
 * declaration order. The class is an ordinary (singleton) Nest provider: list it
 * in a module's `providers`.
 *
 * ```ts
 * @Workflow({ name: 'signup', retry: { maxAttempts: 5 } })
 * export class SignupWorkflow { … }
 * ```
 *
 * Only records metadata; validation happens at boot. It does not apply
 * `@Injectable()` (a decorated class gets its constructor metadata anyway), so
 * that it never overwrites a scope set by the user's own `@Injectable()`: a
 * request-scoped or transient workflow is then refused at boot.
 *
 * @publicApi
 */
export function Workflow(options: WorkflowOptions): ClassDecorator {
  // `@Workflow()` without options (from JavaScript, or through a cast) still
  // marks the class, so that the boot refuses it for its missing name rather
  // than ignore it.
  return SetMetadata(WORKFLOW_METADATA, options ?? {});
}
