/**
 * The values `@underway/nestjs` exports (types vanish at run time; the type
 * tests in test/types cover those). A change here is a change of the public
 * surface: make it on purpose, and document it in the README. Checked against
 * the sources (libs/underway/src/public-api.spec.ts) and against the packed
 * tarball (test/e2e/package.e2e-spec.ts).
 */
export const PUBLIC_EXPORTS: readonly string[] = [
  // Module
  'UnderwayModule',
  'UNDERWAY_MODULE_OPTIONS',
  'underwayMigrations',
  'underwayMigrationsFor',
  'underwayMigrationSql',
  'underwayGrantSql',
  // Dashboard
  'UnderwayDashboardModule',
  // Decorators
  'Workflow',
  'Step',
  'Activity',
  'WorkflowIO',
  'defineSignal',
  // Client
  'WorkflowClient',
  'WorkflowRun',
  // Steps
  'Transition',
  'StepContext',
  // Activities
  'currentActivity',
  'OutsideActivityError',
  // Events and interceptors
  'UnderwayEvents',
  'OnUnderwayEvent',
  'UnderwayInterceptor',
  // Health
  'UnderwayHealthIndicator',
  // Errors
  'UnderwayError',
  'InvalidOptionsError',
  'InvalidWorkflowDefinitionError',
  'DuplicateWorkflowError',
  'WorkflowNotRegisteredError',
  'InvalidInputError',
  'PayloadTooLargeError',
  'SchemaVersionError',
  'StepError',
  'WorkflowRunFailedError',
  'ResultTimeoutError',
  'RunNotFoundError',
  'RunFinishedError',
  'RunNotRetryableError',
  'StepTimeoutError',
  'StepAbortedError',
  'DatabaseUnavailableError',
  'UnderwayClosedError',
  'InvalidScheduleError',
  'ActivityError',
  'ActivityFailedError',
  'NonDeterministicReplayError',
  'InvalidActivityCallError',
  'TransactionClosedError',
  'TransactionControlError',
  'OwnRunLockError',
  'CallOutsideStepError',
  'ChildWorkflowFailedError',
  'ConcurrencyDeadlockError',
];
