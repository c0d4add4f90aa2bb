import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { UnderwayModuleOptions } from './options/underway-module-options.interface';

/** The raw options given to `forRoot`/`forRootAsync`, and the resolved ones. */
export const {
  ConfigurableModuleClass: UnderwayConfigurableModule,
  MODULE_OPTIONS_TOKEN: UNDERWAY_MODULE_OPTIONS,
  OPTIONS_TYPE: UNDERWAY_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: UNDERWAY_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<UnderwayModuleOptions>({
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
