import type { WorkflowDefinition } from '../discovery/workflow-definition';
import { DEFAULT_RETRY_POLICY } from '../common/retry-policy';
import { isUuid } from '../common/uuid';
import { newRunOf } from './new-run';

function definition(
  firstStep: { priority?: number; delayMs?: number } = {},
): WorkflowDefinition {
  const charge = {
    index: 0,
    name: 'charge',
    method: 'charge',
    policy: {
      retry: { ...DEFAULT_RETRY_POLICY, maxAttempts: 3 },
      timeoutMs: 1_000,
      leaseMs: 2_000,
    },
    priority: firstStep.priority,
    transactional: false,
    delayMs: firstStep.delayMs,
  };
  return {
    name: 'orders',
    version: 2,
    className: 'OrdersWorkflow',
    instance: {},
    steps: [charge],
    stepsByName: new Map([['charge', charge]]),
    activities: new Map(),
    transactional: false,
    priority: 5,
    ttlMs: 60_000,
    deadLetter: 'orders-dlq',
    schedules: [],
  };
}

describe('newRunOf', () => {
  it("takes the workflow's version, the first step's name, attempts and lease, the workflow's priority, dead-letter queue and ttl", () => {
    const run = newRunOf(definition(), '{"orderId":1}');
    expect(isUuid(run.id)).toBe(true);
    expect(run).toEqual({
      id: run.id,
      workflowName: 'orders',
      workflowVersion: 2,
      stepName: 'charge',
      input: '{"orderId":1}',
      maxAttempts: 3,
      leaseMs: 2_000,
      priority: 5,
      runPriority: 5,
      runAt: null,
      delayMs: 0,
      concurrencyKey: null,
      idempotencyKey: null,
      deadLetter: 'orders-dlq',
      ttlMs: 60_000,
    });
  });

  it("prefers the first step's priority for step 0, and keeps the run's for later steps", () => {
    expect(newRunOf(definition({ priority: 9 }), null)).toMatchObject({
      priority: 9,
      runPriority: 5,
    });
    expect(
      newRunOf(definition({ priority: 9 }), null, { priority: -1 }),
    ).toMatchObject({ priority: 9, runPriority: -1 });
  });

  it("delays by the option, else by the first step's delay, and not at all with runAt", () => {
    const delayed = definition({ delayMs: 500 });
    expect(newRunOf(delayed, null).delayMs).toBe(500);
    expect(newRunOf(delayed, null, { delayMs: 0 }).delayMs).toBe(0);
    const runAt = new Date('2030-01-01T00:00:00Z');
    expect(newRunOf(delayed, null, { runAt })).toMatchObject({
      runAt,
      delayMs: 0,
    });
  });

  it('gives every run its own id', () => {
    expect(newRunOf(definition(), null).id).not.toBe(
      newRunOf(definition(), null).id,
    );
  });
});
