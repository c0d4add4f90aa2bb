/**
 * The dashboard's security rules, in one place: response headers, and the
 * check that an action comes from the dashboard's own pages.
 */

/**
 * No inline script or style, nothing from another origin, no framing, no
 * plugins: a value that escaped escaping still could not run.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers of every page and action response. */
export const PAGE_HEADERS: readonly (readonly [string, string])[] = [
  ['Content-Security-Policy', CONTENT_SECURITY_POLICY],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-Frame-Options', 'DENY'],
  ['Referrer-Policy', 'same-origin'],
  ['Cache-Control', 'no-store'],
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Cross-Origin-Resource-Policy', 'same-origin'],
];

/** The header every action must carry: a page's script sets it, a form cannot. */
export const ACTION_HEADER = 'x-underway-dashboard';

type Headers = Record<string, string | string[] | undefined>;

function header(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Why an action request is refused as cross-site, or `undefined` to accept it:
 *
 * 1. It must carry `X-Underway-Dashboard: 1`. An HTML form cannot set a
 *    header, and a cross-origin `fetch` that sets one needs a CORS preflight,
 *    which the dashboard never answers.
 * 2. A browser that sends `Sec-Fetch-Site` must say `same-origin`.
 * 3. An `Origin` header must name this host (`Host`, or `X-Forwarded-Host`
 *    behind a proxy).
 *
 * A client that sends neither (curl, a script) is no browser, so no page of
 * another site can have made it send the request: 1 suffices.
 */
export function crossSiteProblem(headers: Headers): string | undefined {
  if (header(headers, ACTION_HEADER) !== '1') {
    return `the request lacks the ${ACTION_HEADER} header that the dashboard's pages send`;
  }
  const site = header(headers, 'sec-fetch-site');
  if (site !== undefined && site !== 'same-origin') {
    return `it comes from another site (Sec-Fetch-Site: ${site})`;
  }
  const origin = header(headers, 'origin');
  if (origin !== undefined) {
    let originHost: string;
    try {
      originHost = new URL(origin).host;
    } catch {
      return 'its Origin header is not a URL';
    }
    const hosts = [
      header(headers, 'host'),
      header(headers, 'x-forwarded-host')?.split(',')[0]?.trim(),
    ].filter((h): h is string => h !== undefined && h !== '');
    if (!hosts.some((h) => h.toLowerCase() === originHost.toLowerCase())) {
      return `its Origin (${origin}) is not this site`;
    }
  }
  return undefined;
}
