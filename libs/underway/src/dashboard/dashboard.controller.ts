import {
  applyDecorators,
  Controller,
  Get,
  Header,
  Inject,
  NotFoundException,
  Param,
  Query,
  Req,
  Type,
  UseFilters,
  UseGuards,
  UsePipes,
} from '@nestjs/common';
import { DASHBOARD_ASSETS } from './assets/dashboard-assets';
import { DashboardAccessGuard } from './dashboard-access.guard';
import { DashboardExceptionFilter } from './dashboard-exception.filter';
import { DashboardInputPipe } from './dashboard-input.pipe';
import { checkQueue, queueParam } from './dashboard-params';
// `import type`: it types decorated parameters (TS1272 under isolatedModules).
import { baseOf, type DashboardRequest } from './dashboard-request';
import { PAGE_HEADERS } from './dashboard-security';
import { DashboardService } from './dashboard.service';
import { DASHBOARD_OPTIONS, DASHBOARD_PATH } from './dashboard.constants';
import {
  deadLetterQueuesPage,
  deadLettersPage,
  queuesCursor,
} from './pages/dead-letters.page';
import type { PageContext } from './pages/layout';
import { overviewPage } from './pages/overview.page';
import { runPage } from './pages/run.page';
import { childrenCursor } from './pages/run-children';
import { signalsCursor } from './pages/run-signals';
import { runsPage } from './pages/runs.page';
import { schedulesCursor, schedulesPage } from './pages/schedules.page';
import type { ResolvedDashboardOptions } from './resolve-dashboard-options';
import { parseRunFocus } from './run-timeline';
import { parseRunsFilter } from './runs-filter';

/** An HTML page with the dashboard's security headers. */
const Page = (): MethodDecorator =>
  applyDecorators(
    Header('Content-Type', 'text/html; charset=utf-8'),
    ...PAGE_HEADERS.map(([name, value]) => Header(name, value)),
  );

const Asset = (asset: { name: string; contentType: string }): MethodDecorator =>
  applyDecorators(
    Get(`assets/${asset.name}`),
    Header('Content-Type', asset.contentType),
    Header('Cache-Control', 'public, max-age=31536000, immutable'),
    Header('X-Content-Type-Options', 'nosniff'),
    Header('Cross-Origin-Resource-Policy', 'same-origin'),
  );

/**
 * The dashboard's pages and assets, relative to its `path` (a subclass made
 * by `dashboardControllerFor` carries it). Every route passes the access
 * guards (the actions are `DashboardActionsController`'s). Handlers return
 * the body and leave the response to Nest, so that Express and Fastify
 * behave alike.
 */
@UseGuards(DashboardAccessGuard)
@UseFilters(DashboardExceptionFilter)
@UsePipes(DashboardInputPipe)
export class DashboardController {
  /** @internal Made by Nest's injector. */
  constructor(
    private readonly dashboard: DashboardService,
    @Inject(DASHBOARD_OPTIONS)
    private readonly options: ResolvedDashboardOptions,
    @Inject(DASHBOARD_PATH) private readonly path: string,
  ) {}

  @Get()
  @Page()
  async overview(@Req() request: DashboardRequest): Promise<string> {
    return overviewPage(
      this.context(request, 0),
      await this.dashboard.overview(),
    ).text;
  }

  @Get('runs')
  @Page()
  async runs(
    @Req() request: DashboardRequest,
    @Query() query: Record<string, unknown>,
  ): Promise<string> {
    const parsed = parseRunsFilter(query);
    const result = await this.dashboard.runs(parsed.query);
    return runsPage(
      this.context(request, 1),
      parsed,
      result,
      this.dashboard.workflowNames(),
    ).text;
  }

  @Get('runs/:id')
  @Page()
  async run(
    @Req() request: DashboardRequest,
    @Param('id') id: string,
    @Query() query: Record<string, unknown>,
  ): Promise<string> {
    const page = await this.dashboard.run(
      id,
      parseRunFocus(query),
      signalsCursor(query),
      childrenCursor(query),
    );
    if (!page) {
      throw new NotFoundException(
        `No run ${id}: an unknown id, or a finished run removed after its ttl.`,
      );
    }
    return runPage(this.context(request, 2), page).text;
  }

  /** The queues; with `?queue=`, one queue's page (how `.` and `..` are linked: see `queueHref`). */
  @Get('dead-letters')
  @Page()
  async deadLetterQueues(
    @Req() request: DashboardRequest,
    @Query() query: Record<string, unknown>,
  ): Promise<string> {
    if (query.queue !== undefined) {
      return this.queuePage(request, 1, queueParam(query.queue), query);
    }
    return deadLetterQueuesPage(
      this.context(request, 1),
      await this.dashboard.deadLetterQueues(queuesCursor(query)),
    ).text;
  }

  @Get('dead-letters/:queue')
  @Page()
  async deadLetters(
    @Req() request: DashboardRequest,
    @Param('queue') queue: string,
    @Query() query: Record<string, unknown>,
  ): Promise<string> {
    return this.queuePage(request, 2, checkQueue(queue), query);
  }

  @Get('schedules')
  @Page()
  async schedules(
    @Req() request: DashboardRequest,
    @Query() query: Record<string, unknown>,
  ): Promise<string> {
    return schedulesPage(
      this.context(request, 1),
      await this.dashboard.schedules(schedulesCursor(query)),
    ).text;
  }

  @Asset(DASHBOARD_ASSETS.css)
  stylesheet(): string {
    return DASHBOARD_ASSETS.css.body;
  }

  @Asset(DASHBOARD_ASSETS.icon)
  icon(): string {
    return DASHBOARD_ASSETS.icon.body;
  }

  @Asset(DASHBOARD_ASSETS.js)
  script(): string {
    return DASHBOARD_ASSETS.js.body;
  }

  private async queuePage(
    request: DashboardRequest,
    segments: number,
    name: string,
    query: Record<string, unknown>,
  ): Promise<string> {
    const { before, all } = query;
    const cursor =
      typeof before === 'string' && /^\d{1,18}$/.test(before)
        ? before
        : undefined;
    const includeRedriven = all === '1';
    const rows = await this.dashboard.deadLetters(name, {
      before: cursor,
      includeRedriven,
    });
    return deadLettersPage(this.context(request, segments), name, rows, {
      includeRedriven,
      before: cursor,
    }).text;
  }

  private context(request: DashboardRequest, segments: number): PageContext {
    return {
      base: baseOf(request, segments, this.path),
      readOnly: this.options.readOnly,
      showPayloads: this.options.showPayloads,
      refreshMs: this.options.refreshIntervalMs,
    };
  }
}

/** The controller class for one `path`: its own subclass, so two apps in one process may differ. */
export function dashboardControllerFor(
  path: string,
): Type<DashboardController> {
  class UnderwayDashboardController extends DashboardController {}
  Controller(path)(UnderwayDashboardController);
  return UnderwayDashboardController;
}
