import {
  ArgumentsHost,
  Catch,
  ExceptionFilter,
  HttpException,
  Inject,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { DASHBOARD_OPTIONS, DASHBOARD_PATH } from './dashboard.constants';
import type { DashboardRequest } from './dashboard-request';
import { PAGE_HEADERS } from './dashboard-security';
import { errorPage } from './pages/error.page';
import type { ResolvedDashboardOptions } from './resolve-dashboard-options';

/**
 * Refusals of the dashboard's routes (a guard's 401 or 403, an unknown run,
 * an action refused): an HTML page for a page, `{ ok: false, message }` for
 * an action, with the dashboard's security headers either way.
 */
@Catch(HttpException)
export class DashboardExceptionFilter implements ExceptionFilter {
  /** @internal Made by Nest's injector. */
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    @Inject(DASHBOARD_OPTIONS)
    private readonly options: ResolvedDashboardOptions,
    @Inject(DASHBOARD_PATH) private readonly path: string,
  ) {}

  catch(exception: HttpException, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<DashboardRequest>();
    const response: unknown = http.getResponse();
    const adapter = this.adapterHost.httpAdapter;
    const status = exception.getStatus();
    const body = exception.getResponse();
    const message =
      typeof body === 'object' && body !== null && 'message' in body
        ? String(body.message)
        : exception.message;
    for (const [name, value] of PAGE_HEADERS) {
      adapter.setHeader(response, name, value);
    }
    if (request.method === 'GET') {
      adapter.setHeader(response, 'Content-Type', 'text/html; charset=utf-8');
      const page = errorPage(
        {
          base: this.path,
          readOnly: this.options.readOnly,
          showPayloads: this.options.showPayloads,
          refreshMs: 0,
        },
        status,
        message,
      );
      adapter.reply(response, page.text, status);
      return;
    }
    adapter.setHeader(
      response,
      'Content-Type',
      'application/json; charset=utf-8',
    );
    adapter.reply(response, { ok: false, statusCode: status, message }, status);
  }
}
