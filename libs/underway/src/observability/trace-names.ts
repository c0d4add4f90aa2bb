/**
 * The tracer, span names and span attributes (README "Observability",
 * "Traces"). Attribute values are ids, names, numbers and outcomes: never an
 * input, an output or an activity result.
 */
export const TRACER_NAME = '@underway/nestjs';

export const SPAN_NAME = {
  /** PRODUCER: `enqueue`, `enqueueMany` (one span for the batch), a schedule's fire. */
  enqueue: (workflowName: string): string => `underway.enqueue ${workflowName}`,
  /** PRODUCER: `redrive` (one span for the entries redriven). */
  redrive: (queue: string): string => `underway.redrive ${queue}`,
  /** CONSUMER: one step attempt. */
  step: (workflowName: string, step: string): string =>
    `underway.step ${workflowName}.${step}`,
  /** CONSUMER: one activity attempt. */
  activity: (workflowName: string, activity: string): string =>
    `underway.activity ${workflowName}.${activity}`,
} as const;

export const SPAN_ATTRIBUTE = {
  workflow: 'underway.workflow',
  runId: 'underway.run_id',
  /** The step's method name (for an activity attempt: the calling step's). */
  step: 'underway.step',
  stepIndex: 'underway.step_index',
  activity: 'underway.activity',
  /** The call's position among its step's `ctx.call` and `ctx.emit`. */
  callIndex: 'underway.call_index',
  /** `call` or `emit`. */
  callKind: 'underway.call_kind',
  /** 1-based; a step resumed after its activity calls keeps its attempt number. */
  attempt: 'underway.attempt',
  /** `AttemptOutcome` (metric-names.ts), set when the attempt ends. */
  outcome: 'underway.outcome',
  /** The dead-letter queue a redrive read. */
  deadLetterQueue: 'underway.dead_letter_queue',
  /** Who inserted the runs: `client`, `schedule` or `redrive`. */
  source: 'underway.source',
  /** The schedule whose tick inserted the run. */
  scheduleKey: 'underway.schedule_key',
  /** On a step attempt's link to the span a signal it took was sent from: the signal's name. */
  signal: 'underway.signal',
  /** The error's code (`StepError` code, `timeout`, or `error`) on a failed attempt. */
  errorType: 'error.type',
  // OpenTelemetry's messaging conventions, so that backends group these
  // spans as a queue's: the system, the operation and the batch size.
  messagingSystem: 'messaging.system',
  messagingOperationType: 'messaging.operation.type',
  messagingDestination: 'messaging.destination.name',
  messagingBatchCount: 'messaging.batch.message_count',
} as const;

/** `messaging.system` of every span. */
export const MESSAGING_SYSTEM = 'underway';
