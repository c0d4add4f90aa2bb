import type { INestApplicationContext } from '@nestjs/common';
import { ManualRuntimeRequiredError } from './manual-runtime-required.error';
import { UnderwayTestKit } from './underway-test-kit';

/**
 * The testing kit of an app booted with `UnderwayModule.forRoot({ runtime:
 * 'manual' })` (an app, an application context, or a `TestingModule`);
 * the same as `app.get(UnderwayTestKit)`.
 *
 * ```ts
 * const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
 *   .overrideProvider(UNDERWAY_MODULE_OPTIONS)
 *   .useValue({ runtime: 'manual' })
 *   .compile();
 * const app = await moduleRef.createNestApplication().init();
 * const kit = createUnderwayTestKit(app);
 * ```
 *
 * @throws ManualRuntimeRequiredError (at once, not as a rejection) when the
 *   app does not import `UnderwayModule`, or its runtime is not `'manual'`
 *
 * @publicApi
 */
export function createUnderwayTestKit(
  app: Pick<INestApplicationContext, 'get'>,
): UnderwayTestKit {
  let kit: UnderwayTestKit | undefined;
  try {
    kit = app.get(UnderwayTestKit, { strict: false });
  } catch (err) {
    throw new ManualRuntimeRequiredError(
      `this app does not import UnderwayModule (${(err as Error).message})`,
    );
  }
  if (!(kit instanceof UnderwayTestKit)) {
    throw new ManualRuntimeRequiredError(
      "this app's runtime is not 'manual' (it runs a worker of its own, or none: runtime false)",
    );
  }
  return kit;
}
