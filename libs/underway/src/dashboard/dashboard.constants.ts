/** The frozen `ResolvedDashboardOptions`. */
export const DASHBOARD_OPTIONS = Symbol('UNDERWAY_DASHBOARD_OPTIONS');

/** The configured route prefix (`/underway`). */
export const DASHBOARD_PATH = Symbol('UNDERWAY_DASHBOARD_PATH');
