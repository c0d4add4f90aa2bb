// Module
export { UnderwayModule } from './underway.module';
export { UNDERWAY_MODULE_OPTIONS } from './underway.module-definition';
export type {
  UnderwayModuleOptions,
  UnderwayOptionsFactory,
  RuntimeOptions,
  ConnectionOptions,
  WorkflowDefaults,
} from './options/underway-module-options.interface';
export {
  underwayMigrations,
  underwayMigrationsFor,
} from './database/underway-migrations';
export {
  underwayMigrationSql,
  underwayGrantSql,
} from './database/underway-sql';
export type { UnderwayMigrationClass } from '../../../migrations';

// Dashboard
export { UnderwayDashboardModule } from './dashboard/underway-dashboard.module';
export type {
  UnderwayDashboardOptions,
  UnderwayDashboardExtras,
} from './dashboard/dashboard-options.interface';

// Decorators
export { Workflow } from './decorators/workflow.decorator';
export { Step } from './decorators/step.decorator';
export { Activity } from './decorators/activity.decorator';
export { WorkflowIO } from './decorators/workflow-io';
export { defineSignal } from './decorators/define-signal';
export type {
  SignalDefinition,
  SignalPayload,
} from './decorators/define-signal';
export type { WorkflowInput, WorkflowOutput } from './decorators/workflow-io';
export type {
  WorkflowOptions,
  StepOptions,
  ActivityOptions,
  WorkflowSchedule,
} from './decorators/workflow-options.interface';

// Client
export { WorkflowClient } from './client/workflow.client';
export { WorkflowRun } from './client/workflow-run';
export type {
  EnqueueOptions,
  CancelOptions,
  RetryOptions,
  ResultOptions,
  SignalOptions,
  SignalWithStartOptions,
} from './client/enqueue-options.interface';
export type { SignalTarget, SignalArgs } from './client/workflow.client';
export type { SignalResult } from './engine/run-signals';
export type { DeadLetterOptions } from './client/dead-letter.interface';
export type {
  ScheduleInfo,
  ScheduleOptions,
  UnscheduleOptions,
} from './schedule/schedule.interface';
export type {
  RunDetails,
  WorkflowVersionInfo,
  AttemptDetails,
  ActivityCallDetails,
  ActivityAttemptDetails,
  DeadLetterEntry,
  WaitDetails,
  SignalDetails,
} from './model/run-details';
export type { RecordedError } from './model/recorded-error';

// Steps
export { Transition } from './execution/transition';
export type {
  NextTransition,
  CompleteTransition,
} from './execution/transition';
// A value too, so that decorated steps can import it without `import type`.
export { StepContext } from './execution/step-context';
export type {
  ActivityName,
  ActivityArgs,
  ActivityResult,
} from './execution/step-context';
export type { WaitOptions, AnySignal } from './execution/step-waits';
export type { ChildOptions } from './execution/step-children';

// Activities
export {
  currentActivity,
  OutsideActivityError,
} from './execution/current-activity';
export type { ActivityContext } from './execution/current-activity';
export type { RunState } from './model/run-state';

// Events and interceptors
export { UnderwayEvents } from './events/underway-events';
export { OnUnderwayEvent } from './events/on-underway-event.decorator';
export { UnderwayInterceptor } from './events/underway.interceptor';
export type {
  EnqueueRequest,
  EnqueueResult,
  AttemptTask,
  AttemptSettlement,
  PropagationCarrier,
} from './events/underway.interceptor';
export type {
  UnderwayEventMap,
  UnderwayEventName,
  UnderwayEventListener,
  AttemptEventTask,
  AttemptOutcome,
  FinishedRunState,
  RunEnqueueSource,
} from './events/underway-event-map';

// Health
export { UnderwayHealthIndicator } from './health/underway-health.indicator';
export type {
  UnderwayHealthOptions,
  UnderwayHealthDetails,
  UnderwayHealthResult,
} from './health/underway-health.interface';

// Errors
export {
  UnderwayError,
  InvalidOptionsError,
  InvalidWorkflowDefinitionError,
  DuplicateWorkflowError,
  WorkflowNotRegisteredError,
  InvalidInputError,
  PayloadTooLargeError,
  SchemaVersionError,
  StepError,
  WorkflowRunFailedError,
  ResultTimeoutError,
  RunNotFoundError,
  RunFinishedError,
  RunNotRetryableError,
  StepTimeoutError,
  StepAbortedError,
  DatabaseUnavailableError,
  UnderwayClosedError,
  InvalidScheduleError,
  ActivityError,
  ActivityFailedError,
  NonDeterministicReplayError,
  InvalidActivityCallError,
  TransactionClosedError,
  TransactionControlError,
  OwnRunLockError,
  CallOutsideStepError,
  ChildWorkflowFailedError,
  ConcurrencyDeadlockError,
} from './errors';
export type { UnderwayErrorCode, AbortCause } from './errors';

// Types
export type { Duration, DurationUnit } from './common/duration';
export type { RetryPolicy } from './common/retry-policy';
