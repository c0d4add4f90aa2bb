import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { UnderwayModuleOptions } from './options/underway-module-options.interface';

/** `forRoot`/`forRootAsync`, and the token of the options given to them. */
const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN } =
  new ConfigurableModuleBuilder<UnderwayModuleOptions>({
    moduleName: 'Underway',
  })
    .setClassMethodName('forRoot')
    .setFactoryMethodName('createUnderwayOptions')
    .setExtras<{ isGlobal?: boolean }>(
      { isGlobal: true },
      (definition, extras) => ({
        ...definition,
        global: extras.isGlobal,
      }),
    )
    .build();

export const UnderwayConfigurableModule = ConfigurableModuleClass;

/**
 * The injection token of the options given to `UnderwayModule.forRoot()` or
 * made by `forRootAsync()`'s factory (`UnderwayModuleOptions`, as given:
 * the module checks them and applies the defaults after). Override it in a
 * test to boot the app's own module with other options:
 *
 * ```ts
 * const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
 *   .overrideProvider(UNDERWAY_MODULE_OPTIONS)
 *   .useValue({ schema: 'underway_test', runtime: { pollInterval: '100ms' } })
 *   .compile();
 * ```
 *
 * @publicApi
 */
export const UNDERWAY_MODULE_OPTIONS: string | symbol = MODULE_OPTIONS_TOKEN;
