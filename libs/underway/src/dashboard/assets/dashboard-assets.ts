import { createHash } from 'node:crypto';
import { DASHBOARD_CSS } from './dashboard.css';
import { DASHBOARD_SCRIPT } from './dashboard.script';

export interface DashboardAsset {
  /** The file name, with a hash of the content: cached for good, never stale. */
  readonly name: string;
  readonly contentType: string;
  readonly body: string;
}

function asset(
  base: string,
  ext: string,
  contentType: string,
  body: string,
): DashboardAsset {
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 12);
  return { name: `${base}-${hash}.${ext}`, contentType, body };
}

/** The dashboard's stylesheet and script, shipped in the package as code. */
const ICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1d2330"/><path d="M3 11h10M3 8h7M3 5h4" stroke="#8fb0ff" stroke-width="2" stroke-linecap="round"/></svg>';

export const DASHBOARD_ASSETS = {
  icon: asset('dashboard', 'svg', 'image/svg+xml', ICON_SVG),
  css: asset('dashboard', 'css', 'text/css; charset=utf-8', DASHBOARD_CSS),
  js: asset(
    'dashboard',
    'js',
    'text/javascript; charset=utf-8',
    DASHBOARD_SCRIPT,
  ),
} as const;
