// Over 300 lines on purpose: one job, a decorated class turned into its frozen
// definition, with one validator per kind of decorator (workflow, step,
// activity, schedule) and the messages that name class and method.
import { describeValue } from '../errors/describe-value';
import { parseDuration } from '../common/duration';
import { INT32_MAX, INT32_MIN, isInt32, nameProblem } from '../common/limits';
import type { ActivityMetadata } from '../decorators/activity.decorator';
import type { StepMetadata } from '../decorators/step.decorator';
import type {
  ActivityOptions,
  StepOptions,
  WorkflowOptions,
  WorkflowSchedule,
} from '../decorators/workflow-options.interface';
import { serializePayload } from '../common/json-payload';
import { InvalidScheduleError } from '../errors/invalid-schedule.error';
import {
  parseSchedule,
  ScheduleExpression,
  zoneOptionHint,
} from '../common/cron-expression';
import { InvalidWorkflowDefinitionError } from '../errors/invalid-workflow-definition.error';
import { UnderwayError } from '../errors/underway.error';
import { resolveDefaults } from '../options/resolve-options';
import type { ResolvedDefaults, StepPolicy } from '../options/resolved-options';
import type {
  ActivityDefinition,
  DeclaredSchedule,
  StepDefinition,
  WorkflowDefinition,
} from './workflow-definition';

const WORKFLOW_KEYS = new Set([
  'name',
  'version',
  'retry',
  'timeout',
  'heartbeat',
  'ttl',
  'priority',
  'deadLetter',
  'schedule',
]);
const STEP_KEYS = new Set([
  'name',
  'retry',
  'timeout',
  'heartbeat',
  'priority',
  'delay',
  'transactional',
]);
const ACTIVITY_KEYS = new Set([
  'name',
  'retry',
  'timeout',
  'heartbeat',
  'transactional',
]);
const SCHEDULE_KEYS = new Set(['cron', 'input', 'key', 'overlap']);
/** Workflow, dead-letter queue and activity names. */
const MAX_NAME_LENGTH = 200;

/** What the explorer found on a `@Workflow` class. */
export interface WorkflowSource {
  readonly className: string;
  /** The Nest-managed singleton. */
  readonly instance: Record<string, unknown>;
  readonly options: WorkflowOptions;
  readonly steps: readonly StepMetadata[];
  readonly activities: readonly ActivityMetadata[];
}

/**
 * Validates a `@Workflow` class's decorators and resolves its policies
 * (activity or step over workflow over module `defaults`), once, at boot: the
 * definition it returns is frozen, and every later use trusts it.
 *
 * @throws InvalidWorkflowDefinitionError naming the class, and the method where one is at fault
 */
export function defineWorkflow(
  source: WorkflowSource,
  defaults: ResolvedDefaults,
  maxInputSizeBytes: number,
): WorkflowDefinition {
  const { className, options, instance } = source;
  checkKeys(options, WORKFLOW_KEYS, className, '@Workflow');
  const name = checkName(options.name, className, '@Workflow({ name })');
  const workflowPolicy = resolvePolicy(
    defaults,
    options,
    className,
    '@Workflow',
  );
  if (source.steps.length === 0) {
    throw new InvalidWorkflowDefinitionError(
      className,
      '@Workflow class has no @Step() method. Decorate at least one method with @Step().',
    );
  }
  const stepMethods = new Set<string>();
  const stepsByName = new Map<string, StepDefinition>();
  const steps = source.steps.map((metadata, index) => {
    const step = defineStep(metadata, index, source, workflowPolicy);
    if (stepMethods.has(step.method)) {
      throw new InvalidWorkflowDefinitionError(
        `${className}.${step.method}`,
        '@Step() is applied more than once to this method',
      );
    }
    const clash = stepsByName.get(step.name);
    if (clash) {
      throw new InvalidWorkflowDefinitionError(
        `${className}.${step.method}`,
        `its step name "${step.name}" is already the name of ${className}.${clash.method}; ` +
          'the name is stored with each run at the step, so it must be unique in the workflow: set @Step({ name })',
      );
    }
    stepMethods.add(step.method);
    stepsByName.set(step.name, step);
    return step;
  });
  const activities = defineActivities(source, workflowPolicy, stepMethods);
  return Object.freeze({
    name,
    version: checkVersion(options.version, className),
    className,
    instance,
    steps: Object.freeze(steps),
    stepsByName,
    activities,
    transactional:
      steps.some((step) => step.transactional) ||
      [...activities.values()].some((activity) => activity.transactional),
    priority: checkPriority(options.priority, className, 0),
    ttlMs: workflowPolicy.ttlMs,
    deadLetter:
      options.deadLetter === undefined
        ? undefined
        : checkName(options.deadLetter, className, '@Workflow({ deadLetter })'),
    schedules: defineSchedules(
      options.schedule,
      name,
      className,
      maxInputSizeBytes,
    ),
  });
}

/** `@Workflow({ schedule })`: one or several, each checked now, keys unique. */
function defineSchedules(
  value: WorkflowOptions['schedule'],
  workflowName: string,
  className: string,
  maxInputSizeBytes: number,
): readonly DeclaredSchedule[] {
  if (value === undefined) {
    return Object.freeze([]);
  }
  const where = `${className} @Workflow({ schedule })`;
  const declared = Array.isArray(value) ? value : [value];
  const keys = new Set<string>();
  return Object.freeze(
    declared.map((item: WorkflowSchedule) => {
      checkKeys(
        item,
        SCHEDULE_KEYS,
        className,
        '@Workflow({ schedule })',
        zoneOptionHint,
      );
      const key =
        item.key === undefined
          ? 'default'
          : checkName(item.key, className, '@Workflow({ schedule: { key } })');
      let expression: ScheduleExpression;
      try {
        expression = parseSchedule(item.cron, { workflowName, key });
      } catch (err) {
        if (err instanceof InvalidScheduleError) {
          throw new InvalidScheduleError(err.schedule, err.problem, where);
        }
        throw err;
      }
      if (keys.has(key)) {
        throw new InvalidWorkflowDefinitionError(
          className,
          `@Workflow({ schedule }) declares the key "${key}" twice; give each schedule its own key`,
        );
      }
      keys.add(key);
      if (
        item.overlap !== undefined &&
        item.overlap !== 'allow' &&
        item.overlap !== 'skip'
      ) {
        throw new InvalidWorkflowDefinitionError(
          className,
          `@Workflow({ schedule: { overlap } }) must be 'allow' or 'skip', got ${describeValue(item.overlap)}`,
        );
      }
      return Object.freeze({
        key,
        expression,
        input: wrap(className, () =>
          serializePayload(item.input, maxInputSizeBytes, 'input'),
        ),
        overlap: item.overlap ?? 'allow',
      });
    }),
  );
}

function defineStep(
  metadata: StepMetadata,
  index: number,
  source: WorkflowSource,
  workflowPolicy: ResolvedDefaults,
): StepDefinition {
  const method = checkMethod(metadata.method, source, '@Step()');
  const target = `${source.className}.${method}`;
  const options: StepOptions = metadata.options ?? {};
  checkKeys(options, STEP_KEYS, target, '@Step');
  const policy = resolvePolicy(workflowPolicy, options, target, '@Step');
  return Object.freeze({
    index,
    name:
      options.name === undefined
        ? method
        : checkName(options.name, target, '@Step({ name })'),
    method,
    policy: stepPolicy(policy),
    priority:
      options.priority === undefined
        ? undefined
        : checkPriority(options.priority, target, 0),
    delayMs:
      options.delay === undefined
        ? undefined
        : wrap(target, () => parseDuration(options.delay, '@Step.delay')),
    transactional: checkTransactional(options.transactional, target, '@Step'),
  });
}

/** The `@Activity` methods, by method name; their durable names unique in the workflow. */
function defineActivities(
  source: WorkflowSource,
  workflowPolicy: ResolvedDefaults,
  stepMethods: ReadonlySet<string>,
): ReadonlyMap<string, ActivityDefinition> {
  const byMethod = new Map<string, ActivityDefinition>();
  const byName = new Map<string, string>();
  for (const metadata of source.activities) {
    const method = checkMethod(metadata.method, source, '@Activity()');
    const target = `${source.className}.${method}`;
    if (stepMethods.has(method)) {
      throw new InvalidWorkflowDefinitionError(
        target,
        'is both a @Step() and an @Activity(): a step is a stage of the run, an activity is work ' +
          'a step calls with ctx.call(); give each its own method',
      );
    }
    if (byMethod.has(method)) {
      throw new InvalidWorkflowDefinitionError(
        target,
        '@Activity() is applied more than once to this method',
      );
    }
    const options: ActivityOptions = metadata.options ?? {};
    checkKeys(options, ACTIVITY_KEYS, target, '@Activity');
    const name =
      options.name === undefined
        ? method
        : checkName(options.name, target, '@Activity({ name })');
    const clash = byName.get(name);
    if (clash !== undefined) {
      throw new InvalidWorkflowDefinitionError(
        target,
        `its activity name "${name}" is already the name of ${source.className}.${clash}; ` +
          'the name is stored with each call, so it must be unique in the workflow: set @Activity({ name })',
      );
    }
    byName.set(name, method);
    const policy = resolvePolicy(workflowPolicy, options, target, '@Activity');
    byMethod.set(
      method,
      Object.freeze({
        name,
        method,
        policy: stepPolicy(policy),
        transactional: checkTransactional(
          options.transactional,
          target,
          '@Activity',
        ),
      }),
    );
  }
  return byMethod;
}

function checkTransactional(
  value: unknown,
  target: string,
  decorator: string,
): boolean {
  if (value === undefined) {
    return false;
  }
  if (typeof value !== 'boolean') {
    throw new InvalidWorkflowDefinitionError(
      target,
      `Invalid option ${decorator}.transactional: must be true or false, got ${describeValue(value)}`,
    );
  }
  return value;
}

function checkMethod(
  method: string | symbol,
  source: WorkflowSource,
  decorator: string,
): string {
  if (typeof method !== 'string') {
    throw new InvalidWorkflowDefinitionError(
      `${source.className}.${String(method)}`,
      `${decorator} must decorate a method with a string name, not a symbol`,
    );
  }
  if (typeof source.instance[method] !== 'function') {
    throw new InvalidWorkflowDefinitionError(
      `${source.className}.${method}`,
      `${decorator} must decorate a method`,
    );
  }
  return method;
}

function stepPolicy(policy: ResolvedDefaults): StepPolicy {
  return Object.freeze({
    retry: policy.retry,
    timeoutMs: policy.timeoutMs,
    leaseMs: policy.leaseMs,
  });
}

function resolvePolicy(
  base: ResolvedDefaults,
  options: WorkflowOptions | StepOptions | ActivityOptions,
  target: string,
  label: string,
): ResolvedDefaults {
  return wrap(target, () =>
    resolveDefaults(
      base,
      {
        retry: options.retry,
        timeout: options.timeout,
        heartbeat: options.heartbeat,
        ttl: 'ttl' in options ? options.ttl : undefined,
      },
      label,
    ),
  );
}

/** Re-throws an option error as a definition error that names the class/method. */
function wrap<T>(target: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof UnderwayError) {
      throw new InvalidWorkflowDefinitionError(target, err.message, {
        cause: err,
      });
    }
    throw err;
  }
}

function checkName(name: unknown, target: string, option: string): string {
  if (
    nameProblem(name, MAX_NAME_LENGTH) !== undefined ||
    (name as string).trim().length === 0
  ) {
    throw new InvalidWorkflowDefinitionError(
      target,
      `${option} must be a non-empty string of at most ${MAX_NAME_LENGTH} characters, ` +
        `without \\u0000 or a lone surrogate, got ${describeValue(name)}`,
    );
  }
  return name as string;
}

/** `@Workflow({ version })`: a positive 32-bit integer, 1 when absent. */
function checkVersion(value: unknown, target: string): number {
  if (value === undefined) {
    return 1;
  }
  if (!isInt32(value) || value < 1) {
    throw new InvalidWorkflowDefinitionError(
      target,
      `@Workflow({ version }) must be an integer from 1 to ${INT32_MAX}, got ${describeValue(value)}`,
    );
  }
  return value;
}

function checkPriority(
  value: unknown,
  target: string,
  fallback: number,
): number {
  if (value === undefined) {
    return fallback;
  }
  if (!isInt32(value)) {
    throw new InvalidWorkflowDefinitionError(
      target,
      `priority must be a 32-bit integer (${INT32_MIN} to ${INT32_MAX}), got ${describeValue(value)}`,
    );
  }
  return value;
}

function checkKeys(
  options: object,
  known: ReadonlySet<string>,
  target: string,
  decorator: string,
  hint: (key: string) => string = () => '',
): void {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidWorkflowDefinitionError(
      target,
      `${decorator}() options must be an object`,
    );
  }
  for (const key of Object.keys(options)) {
    if (!known.has(key)) {
      throw new InvalidWorkflowDefinitionError(
        target,
        `${decorator}() has an unknown option "${key}" (known: ${[...known].join(', ')}${hint(key)})`,
      );
    }
  }
}
