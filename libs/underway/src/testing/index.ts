// @underway/nestjs/testing: the testing kit (docs/testing.md).
export { UnderwayTestKit } from './underway-test-kit';
export type { ActivityMock } from './underway-test-kit';
export { createUnderwayTestKit } from './create-underway-test-kit';
export { TestClock } from './test-clock';
export { TestEvents } from './test-events';
export type { EventFields, NextEventOptions } from './test-events';
export { RunStuckError } from './run-stuck.error';
export { ManualRuntimeRequiredError } from './manual-runtime-required.error';
export { EventTimeoutError } from './event-timeout.error';
export { TestKitNotStartedError } from './test-kit-not-started.error';
