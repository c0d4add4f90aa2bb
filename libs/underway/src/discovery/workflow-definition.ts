import type { StepPolicy } from '../options/resolved-options';
import type { ScheduleExpression } from '../common/cron-expression';

/** A schedule of `@Workflow({ schedule })`, checked. Frozen after boot. */
export interface DeclaredSchedule {
  readonly key: string;
  readonly expression: ScheduleExpression;
  /** JSON text, or `null` for no input. */
  readonly input: string | null;
  readonly overlap: 'allow' | 'skip';
}

/** One `@Step` of a registered workflow, options resolved. Frozen after boot. */
export interface StepDefinition {
  /** Its position in the class (declaration order). */
  readonly index: number;
  /** The durable name stored with a run at this step (`@Step({ name })`, default the method). */
  readonly name: string;
  readonly method: string;
  readonly policy: StepPolicy;
  /** `undefined`: the run's priority. */
  readonly priority: number | undefined;
  /** `undefined`: enter the step at once. */
  readonly delayMs: number | undefined;
  /** `@Step({ transactional })`: runs in a transaction that its outcome commits. */
  readonly transactional: boolean;
}

/** One `@Activity` of a registered workflow, options resolved. Frozen after boot. */
export interface ActivityDefinition {
  /** The durable name stored with each call. */
  readonly name: string;
  readonly method: string;
  readonly policy: StepPolicy;
  /** `@Activity({ transactional })`: runs in a transaction that its result commits. */
  readonly transactional: boolean;
}

/** A registered `@Workflow` class. Frozen after boot. */
export interface WorkflowDefinition {
  readonly name: string;
  /** `@Workflow({ version })`, default 1: stored with each run, which keeps it for life. */
  readonly version: number;
  readonly className: string;
  /** The Nest-managed singleton whose step methods are invoked. */
  readonly instance: object;
  readonly steps: readonly StepDefinition[];
  /** The steps by durable name: a claimed run's step is found by its stored name. */
  readonly stepsByName: ReadonlyMap<string, StepDefinition>;
  /** By method name. */
  readonly activities: ReadonlyMap<string, ActivityDefinition>;
  /** Some step or activity is transactional: the worker needs the app's DataSource. */
  readonly transactional: boolean;
  readonly priority: number;
  readonly ttlMs: number;
  readonly deadLetter: string | undefined;
  /** `@Workflow({ schedule })`, by key. */
  readonly schedules: readonly DeclaredSchedule[];
}
