/** What the dashboard reads of a request, on Express and Fastify alike. */
export interface DashboardRequest {
  readonly method: string;
  readonly url: string;
  /** Express (the URL before any mount point was taken off); Fastify has it too. */
  readonly originalUrl?: string;
  readonly headers: Record<string, string | string[] | undefined>;
}

const SAFE_BASE = /^(\/[A-Za-z0-9._~%-]+)+$/;

/**
 * The dashboard's prefix as the browser sees it: the request's path without
 * the `segments` the route adds to it (`/runs/<id>`: 2). It includes a
 * global prefix (`app.setGlobalPrefix('admin')`) that the module cannot know;
 * anything unexpected falls back to the configured path.
 */
export function baseOf(
  request: DashboardRequest,
  segments: number,
  configured: string,
): string {
  const raw = (request.originalUrl ?? request.url).split(/[?#]/)[0] ?? '';
  const parts = raw.replace(/\/+$/, '').split('/');
  const base = parts.slice(0, parts.length - segments).join('/');
  return SAFE_BASE.test(base) && base.endsWith(configured) ? base : configured;
}
