import { Injectable, OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { WorkflowClient } from '../client/workflow.client';
import { defineSignal } from '../decorators/define-signal';
import type { SignalResult } from '../engine/run-signals';
import type { SignalBody } from './action-body';
import { underwayProvider } from './underway-providers';

/**
 * What the dashboard's actions do: each through `WorkflowClient`, as an
 * app's own code would (same checks, same transaction, same events).
 */
@Injectable()
export class DashboardActions implements OnModuleInit {
  private client!: WorkflowClient;

  /** @internal Made by Nest's injector. */
  constructor(private readonly moduleRef: ModuleRef) {}

  onModuleInit(): void {
    this.client = underwayProvider(this.moduleRef, WorkflowClient);
  }

  cancel(runId: string): Promise<boolean> {
    return this.client.cancel(runId);
  }

  async retry(runId: string): Promise<void> {
    await this.client.retry(runId);
  }

  async redrive(
    queue: string,
    runIds: string[] | undefined,
  ): Promise<string[]> {
    const runs = await this.client.redrive(queue, {
      runIds,
      limit: 10_000,
    });
    return runs.map((run) => run.id);
  }

  /** As `client.signal()`, the signal by its name (the dashboard has no definitions). */
  signal(runId: string, signal: SignalBody): Promise<SignalResult> {
    return this.client.signal(
      runId,
      defineSignal<unknown>(signal.name),
      signal.payload,
      { idempotencyKey: signal.idempotencyKey },
    );
  }
}
