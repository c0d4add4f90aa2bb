import { UnderwayError } from '../errors/underway.error';

/**
 * `createUnderwayTestKit(app)` was given an app whose Underway runtime is
 * not `'manual'` (or that does not import `UnderwayModule`): the kit drives
 * the work itself, so the app must not run a worker of its own.
 *
 * @publicApi
 */
export class ManualRuntimeRequiredError extends UnderwayError {
  readonly code = 'manual_runtime_required';

  constructor(reason: string) {
    super(
      `The Underway testing kit needs an app booted with UnderwayModule.forRoot({ runtime: 'manual' }): ${reason}. ` +
        "In a test of the app's own module, override its options: " +
        ".overrideProvider(UNDERWAY_MODULE_OPTIONS).useValue({ runtime: 'manual' }).",
    );
  }
}
