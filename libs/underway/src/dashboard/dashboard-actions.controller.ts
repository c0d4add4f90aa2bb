import {
  applyDecorators,
  Body,
  ConflictException,
  Controller,
  Header,
  HttpCode,
  Param,
  Post,
  Query,
  Type,
  UseFilters,
  UseGuards,
  UsePipes,
} from '@nestjs/common';
import { isUuid } from '../common/uuid';
import { actionBody, redriveRunIds, signalBody } from './action-body';
import { DashboardAccessGuard } from './dashboard-access.guard';
import { DashboardActionGuard } from './dashboard-action.guard';
import { DashboardActions } from './dashboard-actions.service';
import { DashboardExceptionFilter } from './dashboard-exception.filter';
import { DashboardInputPipe } from './dashboard-input.pipe';
import { asHttpError, checkQueue, queueParam } from './dashboard-params';
import { PAGE_HEADERS } from './dashboard-security';
import type { SignalResult } from '../engine/run-signals';

/** A `POST` action: after the access guards, refused in readOnly mode or cross-site. */
const Action = (path: string): MethodDecorator =>
  applyDecorators(
    Post(path),
    HttpCode(200),
    UseGuards(DashboardActionGuard),
    ...PAGE_HEADERS.map(([name, value]) => Header(name, value)),
  );

/**
 * The dashboard's actions, relative to its `path` (a subclass made by
 * `dashboardActionsControllerFor` carries it), each a `POST` that passes
 * the access guards, then `DashboardActionGuard` (readOnly, cross-site),
 * and reads its body strictly (action-body.ts). The pages are
 * `DashboardController`'s.
 */
@UseGuards(DashboardAccessGuard)
@UseFilters(DashboardExceptionFilter)
@UsePipes(DashboardInputPipe)
export class DashboardActionsController {
  /** @internal Made by Nest's injector. */
  constructor(private readonly actions: DashboardActions) {}

  @Action('runs/:id/cancel')
  async cancel(
    @Param('id') id: string,
    @Body() body: unknown,
  ): Promise<ActionResult> {
    actionBody(body, 'cancel', []);
    const cancelled = isUuid(id) && (await this.actions.cancel(id));
    if (!cancelled) {
      throw new ConflictException(
        `Run ${id} was not cancelled: it had already finished (or does not exist).`,
      );
    }
    return { ok: true, message: `Run ${id} cancelled.` };
  }

  @Action('runs/:id/retry')
  async retry(
    @Param('id') id: string,
    @Body() body: unknown,
  ): Promise<ActionResult> {
    actionBody(body, 'retry', []);
    try {
      await this.actions.retry(id);
    } catch (err) {
      throw asHttpError(err);
    }
    return {
      ok: true,
      message: `Run ${id} retried: it runs again from the step that failed.`,
    };
  }

  @Action('runs/:id/signal')
  async signal(
    @Param('id') id: string,
    @Body() body: unknown,
  ): Promise<ActionResult> {
    const signal = signalBody(body);
    let sent: SignalResult;
    try {
      sent = await this.actions.signal(id, signal);
    } catch (err) {
      throw asHttpError(err);
    }
    return {
      ok: true,
      message: sent.duplicate
        ? `Not sent again: run ${id} already has signal ${sent.signalId} with key "${signal.idempotencyKey}".`
        : `Signal "${signal.name}" sent to run ${id} (${sent.signalId}).`,
    };
  }

  @Action('dead-letters/:queue/redrive')
  async redrive(
    @Param('queue') queue: string,
    @Body() body: unknown,
  ): Promise<ActionResult> {
    return this.redriveQueue(checkQueue(queue), body);
  }

  /** The redrive of a queue named in the query string (`.` and `..`: see `queueHref`). */
  @Action('dead-letters/redrive')
  async redriveNamedInQuery(
    @Query('queue') queue: unknown,
    @Body() body: unknown,
  ): Promise<ActionResult> {
    return this.redriveQueue(queueParam(queue), body);
  }

  private async redriveQueue(
    name: string,
    body: unknown,
  ): Promise<ActionResult> {
    const runIds = redriveRunIds(body);
    let redriven: string[];
    try {
      redriven = await this.actions.redrive(name, runIds);
    } catch (err) {
      throw asHttpError(err);
    }
    return {
      ok: true,
      message:
        redriven.length === 0
          ? 'Nothing to redrive (already redriven?).'
          : `${redriven.length} run(s) redriven from ${name}.`,
      runIds: redriven,
    };
  }
}

interface ActionResult {
  readonly ok: true;
  readonly message: string;
  readonly runIds?: string[];
}

/** The actions' controller class for one `path`: its own subclass, so two apps in one process may differ. */
export function dashboardActionsControllerFor(
  path: string,
): Type<DashboardActionsController> {
  class UnderwayDashboardActionsController extends DashboardActionsController {}
  Controller(path)(UnderwayDashboardActionsController);
  return UnderwayDashboardActionsController;
}
