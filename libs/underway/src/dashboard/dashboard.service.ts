import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { WorkflowClient } from '../client/workflow.client';
import { isUuid } from '../common/uuid';
import { PoolExecutor, SqlExecutor } from '../database/sql-executor';
import type { SqlQuery } from '../database/sql';
import { UnderwayDatabase } from '../database/underway-database';
import { WorkflowRegistry } from '../discovery/workflow.registry';
import type { WorkflowVersionInfo } from '../model/run-details';
import type { ResolvedOptions } from '../options/resolved-options';
import { UnderwayBootstrap } from '../underway.bootstrap';
import { UNDERWAY_OPTIONS } from '../underway.constants';
import type { QueryResultRow } from 'pg';
import type { ChildKey } from './children.sql';
import {
  ActiveCountRow,
  FinishedCountRow,
  RunsPageQuery,
  RunsPageRow,
  selectActiveCounts,
  selectFinishedCounts,
  selectRunsPage,
} from './dashboard.sql';
import {
  DeadLetterPageRow,
  DeadLetterQueueRow,
  selectDeadLetterPage,
  selectDeadLetterQueuesPage,
  selectDeadLettersWaiting,
} from './dead-letters.sql';
import { KeysetPage, keysetPage, PageCursor } from './keyset';
import {
  LIST_PAGE_SIZE,
  LIST_PAYLOAD_CHARS,
  LIST_PAYLOAD_MAX_STORED,
  OVERVIEW_WORKFLOWS,
} from './page-bounds';
import type { PayloadRead } from './payload.sql';
import { readRunPage, RunPage } from './run-page.reader';
import type { RunFocus } from './run-timeline';
import { ScheduleKey, ScheduleRow, selectSchedulesPage } from './schedules.sql';
import { DASHBOARD_OPTIONS } from './dashboard.constants';
import type { ResolvedDashboardOptions } from './resolve-dashboard-options';
import { underwayProvider } from './underway-providers';

/** The window of the overview's "finished" counts. */
export const FINISHED_WINDOW_MS = 3_600_000;

/** Entries shown per page of a dead-letter queue. */
export const DEAD_LETTER_PAGE_SIZE = LIST_PAGE_SIZE;

export interface WorkflowOverview {
  readonly name: string;
  readonly registered: boolean;
  readonly pending: number;
  readonly running: number;
  readonly waiting: number;
  readonly oldestDueMs: number | undefined;
  readonly succeeded: number;
  readonly failed: number;
  readonly cancelled: number;
}

export interface Overview {
  readonly workflows: readonly WorkflowOverview[];
  /**
   * The versions worth a look: those of workflows with more than one
   * version in flight or registered, and any with runs in flight that no
   * running instance runs (at most `OVERVIEW_WORKFLOWS`).
   */
  readonly versions: readonly WorkflowVersionInfo[];
  /** Dead-letter entries still to redrive, over every queue. */
  readonly deadLettersWaiting: number;
}

/**
 * What the dashboard's pages read, on Underway's own connections (the main
 * pool, `underway:<instance>:claim`, bounded like every client call).
 * Actions are `DashboardActions`'.
 */
@Injectable()
export class DashboardService implements OnModuleInit {
  private client!: WorkflowClient;
  private database!: UnderwayDatabase;
  private registry!: WorkflowRegistry;
  private bootstrap!: UnderwayBootstrap;
  private underway!: ResolvedOptions;

  /** @internal Made by Nest's injector. */
  constructor(
    private readonly moduleRef: ModuleRef,
    @Inject(DASHBOARD_OPTIONS) readonly options: ResolvedDashboardOptions,
  ) {}

  onModuleInit(): void {
    const find = <T>(token: unknown): T =>
      underwayProvider<T>(this.moduleRef, token);
    this.client = find(WorkflowClient);
    this.database = find(UnderwayDatabase);
    this.registry = find(WorkflowRegistry);
    this.bootstrap = find(UnderwayBootstrap);
    this.underway = find(UNDERWAY_OPTIONS);
  }

  async overview(): Promise<Overview> {
    const ttls = [
      this.underway.defaults.ttlMs,
      ...this.registry.all().map((w) => w.ttlMs),
    ];
    const [active, finished, [deadLetters], versions] = await Promise.all([
      this.rows<ActiveCountRow>(selectActiveCounts(this.underway.schema)),
      this.rows<FinishedCountRow>(
        selectFinishedCounts(
          this.underway.schema,
          [...new Set(ttls)],
          FINISHED_WINDOW_MS,
        ),
      ),
      this.rows<{ waiting: number }>(
        selectDeadLettersWaiting(this.underway.schema),
      ),
      this.client.listVersions(),
    ]);
    const byName = new Map<string, Record<string, number | undefined>>();
    const entry = (name: string): Record<string, number | undefined> => {
      let found = byName.get(name);
      if (!found) {
        found = {};
        byName.set(name, found);
      }
      return found;
    };
    for (const name of this.registry.names()) {
      entry(name);
    }
    for (const row of active) {
      const counts = entry(row.workflow_name);
      counts[row.state] = row.runs;
      if (row.oldest_due_ms !== null) {
        counts.oldestDueMs = Math.max(
          counts.oldestDueMs ?? 0,
          Number(row.oldest_due_ms),
        );
      }
    }
    for (const row of finished) {
      entry(row.workflow_name)[row.state] = row.runs;
    }
    const workflows = [...byName.entries()]
      .map(([name, c]) => ({
        name,
        registered: this.registry.find(name) !== undefined,
        pending: c.pending ?? 0,
        running: c.running ?? 0,
        waiting: c.waiting ?? 0,
        oldestDueMs: c.oldestDueMs,
        succeeded: c.succeeded ?? 0,
        failed: c.failed ?? 0,
        cancelled: c.cancelled ?? 0,
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
    return {
      workflows,
      versions: versionsWorthALook(versions),
      deadLettersWaiting: deadLetters?.waiting ?? 0,
    };
  }

  /** Workflow names for the runs filter: the registered ones. */
  workflowNames(): string[] {
    return this.registry.names().sort();
  }

  async runs(query: RunsPageQuery): Promise<RunsPageRow> {
    const [row] = await this.rows<RunsPageRow>(
      selectRunsPage(this.underway.schema, query),
    );
    return row ?? { runs: [], scanned: null, frontier: null };
  }

  /** A run's page: the run, the part of its timeline `focus` asks for, and a page of its signals and of its children (bounded). */
  async run(
    runId: string,
    focus: RunFocus | undefined,
    signals: PageCursor<string>,
    children: PageCursor<ChildKey>,
  ): Promise<RunPage | undefined> {
    if (!isUuid(runId)) {
      return undefined;
    }
    return readRunPage(
      (query) => this.rows(query),
      this.underway.schema,
      runId,
      {
        focus,
        signals,
        children,
        showPayloads: this.options.showPayloads,
        stepNames: (workflow, version) =>
          this.registry.find(workflow, version)?.steps.map((s) => s.name),
      },
    );
  }

  async deadLetterQueues(
    cursor: PageCursor<string>,
  ): Promise<KeysetPage<DeadLetterQueueRow>> {
    const rows = await this.rows<DeadLetterQueueRow>(
      selectDeadLetterQueuesPage(
        this.underway.schema,
        cursor,
        LIST_PAGE_SIZE + 1,
      ),
    );
    return keysetPage(rows, cursor, LIST_PAGE_SIZE);
  }

  async deadLetters(
    queue: string,
    options: { before: string | undefined; includeRedriven: boolean },
  ): Promise<DeadLetterPageRow[]> {
    return this.rows(
      selectDeadLetterPage(this.underway.schema, queue, {
        ...options,
        limit: DEAD_LETTER_PAGE_SIZE + 1,
        input: this.listPayloads(),
      }),
    );
  }

  async schedules(
    cursor: PageCursor<ScheduleKey>,
  ): Promise<KeysetPage<ScheduleRow>> {
    const rows = await this.rows<ScheduleRow>(
      selectSchedulesPage(this.underway.schema, cursor, {
        limit: LIST_PAGE_SIZE + 1,
        input: this.listPayloads(),
      }),
    );
    return keysetPage(rows, cursor, LIST_PAGE_SIZE);
  }

  /** How much of each payload a list reads: none without `showPayloads`. */
  private listPayloads(): PayloadRead | null {
    return this.options.showPayloads
      ? { chars: LIST_PAYLOAD_CHARS, maxStoredBytes: LIST_PAYLOAD_MAX_STORED }
      : null;
  }

  private async rows<R extends QueryResultRow>(query: SqlQuery): Promise<R[]> {
    const executor = await this.executor();
    return (await executor.query<R>(query)).rows;
  }

  private async executor(): Promise<SqlExecutor> {
    await this.bootstrap.whenReady();
    return new PoolExecutor(this.database.pool);
  }
}

/** See `Overview.versions`. */
function versionsWorthALook(
  versions: readonly WorkflowVersionInfo[],
): WorkflowVersionInfo[] {
  const perWorkflow = new Map<string, number>();
  for (const v of versions) {
    perWorkflow.set(v.workflowName, (perWorkflow.get(v.workflowName) ?? 0) + 1);
  }
  return versions
    .filter(
      (v) =>
        (perWorkflow.get(v.workflowName) ?? 0) > 1 ||
        (v.inFlight > 0 && v.instances.length === 0),
    )
    .slice(0, OVERVIEW_WORKFLOWS);
}
