/**
 * The examples of docs/events.md (once the README's "Events and
 * interceptors"), compiled by `npm run typecheck`. Keep them in sync with it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { Injectable } from '@nestjs/common';
import {
  AttemptSettlement,
  AttemptTask,
  EnqueueRequest,
  EnqueueResult,
  OnUnderwayEvent,
  UnderwayEventMap,
  UnderwayEvents,
  UnderwayInterceptor,
} from '@underway/nestjs';

// --- README: Events ------------------------------------------------------------

@Injectable()
export class RunAudit {
  constructor(events: UnderwayEvents) {
    events.on('attempt:settled', ({ workflowName, step, outcome, error }) => {
      if (outcome === 'failed') {
        this.alert(workflowName, step, error?.message);
      }
    });
  }

  @OnUnderwayEvent('run:finished')
  record({ runId, workflowName, state }: UnderwayEventMap['run:finished']) {
    // write an audit row, push to a websocket, count…
    void [runId, workflowName, state];
  }

  private alert(workflow: string, step: string, message?: string) {
    void [workflow, step, message];
  }
}

// --- README: Interceptors ------------------------------------------------------

export const tenant = new AsyncLocalStorage<string>();

@Injectable()
export class TenantInterceptor extends UnderwayInterceptor {
  // Store the enqueuing request's tenant with the run…
  override enqueue(
    request: EnqueueRequest,
    next: (r: EnqueueRequest) => Promise<EnqueueResult>,
  ) {
    const id = tenant.getStore();
    return next(
      id
        ? { ...request, carrier: { ...request.carrier, tenant: id } }
        : request,
    );
  }

  // …and run every attempt of it, in any process, inside that tenant.
  override attempt(task: AttemptTask, next: () => Promise<AttemptSettlement>) {
    const id = task.carrier?.tenant;
    return id ? tenant.run(id, next) : next();
  }
}

// Types the listener sees: a payload per name.
export function listen(events: UnderwayEvents): () => void {
  return events.on('schedule:fired', ({ fireAt, runId }) => {
    const when: Date = fireAt;
    const id: string = runId;
    void [when, id];
  });
}

export function misspelt(events: UnderwayEvents): void {
  // @ts-expect-error: not an event name
  events.on('run:done', () => undefined);
  // @ts-expect-error: run:finished has no `outcome`
  events.on('run:finished', ({ outcome }) => outcome);
}
