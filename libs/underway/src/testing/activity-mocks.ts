import type {
  ActivityDefinition,
  WorkflowDefinition,
} from '../discovery/workflow-definition';
import { InvalidOptionsError } from '../errors/invalid-options.error';

/** One activity method replaced on one workflow instance. */
interface Replaced {
  readonly instance: object;
  readonly method: string;
  /** The instance's own property before the first mock (`undefined`: it had none, the method came from its class). */
  readonly original: PropertyDescriptor | undefined;
}

/**
 * The activity bodies a test replaced (`kit.mockActivity`). An activity
 * call runs `instance[method]` of its workflow's Nest-managed instance, so a
 * mock is an own property of that instance, shadowing its class's method:
 * this app only, every version registered under the name, in effect from
 * the next attempt, until restored.
 */
export class ActivityMocks {
  /** By workflow name, version and method. */
  private readonly replaced = new Map<string, Replaced>();

  /**
   * Replaces the activity `name` (its method name, or its durable
   * `@Activity({ name })`) of each definition that has it; a second mock of
   * the same activity replaces the first.
   * @returns a function that puts the real body back (whichever mock is in place)
   * @throws InvalidOptionsError when none of them has such an activity
   */
  mock(
    definitions: readonly WorkflowDefinition[],
    name: string,
    fn: unknown,
  ): () => void {
    if (typeof fn !== 'function') {
      throw new InvalidOptionsError(
        'fn',
        'must be a function: the body that replaces the activity',
      );
    }
    const targets = definitions.flatMap((definition) => {
      const activity = findByName(definition, name);
      return activity ? [{ definition, activity }] : [];
    });
    if (targets.length === 0) {
      const definition = definitions[0];
      const known = definition
        ? [...definition.activities.keys()].join(', ') || 'none'
        : 'none';
      throw new InvalidOptionsError(
        'name',
        `"${name}" is not an @Activity() of ${definition?.className ?? 'this workflow'} (its activities: ${known})`,
      );
    }
    const keys = targets.map(({ definition, activity }) =>
      this.replace(definition, activity.method, fn),
    );
    return () => {
      for (const key of keys) {
        const entry = this.replaced.get(key);
        if (entry) {
          this.restore(key, entry);
        }
      }
    };
  }

  /** Puts every real body back. */
  restoreAll(): void {
    for (const [key, entry] of [...this.replaced]) {
      this.restore(key, entry);
    }
  }

  private replace(
    definition: WorkflowDefinition,
    method: string,
    fn: unknown,
  ): string {
    const key = `${definition.name}\n${definition.version}\n${method}`;
    const instance = definition.instance;
    if (!this.replaced.has(key)) {
      this.replaced.set(key, {
        instance,
        method,
        original: Object.getOwnPropertyDescriptor(instance, method),
      });
    }
    Object.defineProperty(instance, method, {
      value: fn,
      writable: true,
      configurable: true,
      enumerable: false,
    });
    return key;
  }

  private restore(key: string, entry: Replaced): void {
    this.replaced.delete(key);
    if (entry.original) {
      Object.defineProperty(entry.instance, entry.method, entry.original);
    } else {
      delete (entry.instance as Record<string, unknown>)[entry.method];
    }
  }
}

/** The activity of `definition` whose method or durable name is `name`. */
function findByName(
  definition: WorkflowDefinition,
  name: string,
): ActivityDefinition | undefined {
  const byMethod = definition.activities.get(name);
  if (byMethod) {
    return byMethod;
  }
  for (const activity of definition.activities.values()) {
    if (activity.name === name) {
      return activity;
    }
  }
  return undefined;
}
