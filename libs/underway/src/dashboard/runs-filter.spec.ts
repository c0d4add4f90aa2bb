import { baseOf } from './dashboard-request';
import {
  resolveDashboardOptions,
  resolveDashboardPath,
} from './resolve-dashboard-options';
import {
  parseRunsFilter,
  parseUtcTime,
  RUNS_SCAN_WINDOW,
  uuidv7Floor,
} from './runs-filter';

describe('parseRunsFilter', () => {
  it('serves an unfiltered or an unfinished-state page by index, anything else by a bounded walk', () => {
    expect(parseRunsFilter({}).query.window).toBeUndefined();
    expect(
      parseRunsFilter({ state: 'pending', workflow: 'w' }).query.window,
    ).toBeUndefined();
    expect(parseRunsFilter({ state: 'failed' }).query.window).toBe(
      RUNS_SCAN_WINDOW,
    );
    expect(parseRunsFilter({ workflow: 'w' }).query.window).toBe(
      RUNS_SCAN_WINDOW,
    );
  });

  it('turns a time range into UUIDv7 bounds and drops what it cannot read', () => {
    const parsed = parseRunsFilter({
      from: '2026-12-01T10:00',
      to: 'tomorrow',
      state: 'exploded',
      before: 'x',
    });
    expect(parsed.query.fromId).toBe(uuidv7Floor(Date.UTC(2026, 11, 1, 10)));
    expect(parsed.query.toId).toBeUndefined();
    expect(parsed.query.state).toBeUndefined();
    expect(parsed.query.before).toBeUndefined();
    expect(parsed.problems).toHaveLength(3);
    expect(parseUtcTime('2026-12-01')).toBe(Date.UTC(2026, 11, 1));
    expect(parseUtcTime('2026-12-01 10:00:05Z')).toBe(
      Date.UTC(2026, 11, 1, 10, 0, 5),
    );
  });

  it('orders UUIDv7 bounds like the ids of the runs of that time', () => {
    const ms = Date.UTC(2026, 0, 1);
    expect(uuidv7Floor(ms)).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-0000-0000-000000000000$/,
    );
    expect(uuidv7Floor(ms) < uuidv7Floor(ms + 1)).toBe(true);
  });
});

describe('the dashboard’s path and options', () => {
  it('accepts plain paths and refuses anything that would need escaping', () => {
    expect(resolveDashboardPath(undefined)).toBe('/underway');
    expect(resolveDashboardPath('/admin/jobs/')).toBe('/admin/jobs');
    for (const bad of ['underway', '/', '/a b', '/a/../b', '/"x', '//x', 7]) {
      expect(() => resolveDashboardPath(bad)).toThrow(/dashboard\.path/);
    }
  });

  it('fills defaults and refuses unknown keys and bad values', () => {
    expect(resolveDashboardOptions({})).toEqual({
      guards: [],
      readOnly: false,
      showPayloads: false,
      refreshIntervalMs: 5_000,
    });
    expect(() => resolveDashboardOptions({ readonly: true })).toThrow(
      /did you mean readOnly/,
    );
    expect(() => resolveDashboardOptions({ readOnly: 'yes' })).toThrow(
      /dashboard\.readOnly/,
    );
    expect(() => resolveDashboardOptions({ guards: [{}] })).toThrow(
      /dashboard\.guards\[0\]/,
    );
    expect(() => resolveDashboardOptions({ refreshInterval: '1ms' })).toThrow(
      /dashboard\.refreshInterval/,
    );
  });

  it('finds its base under a global prefix, and falls back to the configured path', () => {
    const request = (url: string) => ({ method: 'GET', url, headers: {} });
    expect(
      baseOf(request('/admin/underway/runs/abc?x=1'), 2, '/underway'),
    ).toBe('/admin/underway');
    expect(baseOf(request('/underway/'), 0, '/underway')).toBe('/underway');
    expect(baseOf(request('/"><x/underway/runs'), 1, '/underway')).toBe(
      '/underway',
    );
  });
});
