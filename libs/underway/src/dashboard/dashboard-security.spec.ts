import { Script } from 'node:vm';
import { DASHBOARD_SCRIPT } from './assets/dashboard.script';
import {
  CONTENT_SECURITY_POLICY,
  crossSiteProblem,
} from './dashboard-security';

describe('crossSiteProblem', () => {
  const fromPage = {
    'x-underway-dashboard': '1',
    host: 'app.example:3000',
    origin: 'http://app.example:3000',
    'sec-fetch-site': 'same-origin',
  };

  it('accepts what the dashboard’s own script sends, and a client that is no browser', () => {
    expect(crossSiteProblem(fromPage)).toBeUndefined();
    expect(crossSiteProblem({ 'x-underway-dashboard': '1' })).toBeUndefined();
    expect(
      crossSiteProblem({
        ...fromPage,
        host: 'internal:3000',
        'x-forwarded-host': 'app.example:3000, proxy',
      }),
    ).toBeUndefined();
  });

  it('refuses a request without the header, from another site or another origin', () => {
    expect(
      crossSiteProblem({ ...fromPage, 'x-underway-dashboard': undefined }),
    ).toMatch(/lacks the x-underway-dashboard header/);
    expect(
      crossSiteProblem({ ...fromPage, 'x-underway-dashboard': 'yes' }),
    ).toBeDefined();
    for (const site of ['cross-site', 'same-site', 'none']) {
      expect(crossSiteProblem({ ...fromPage, 'sec-fetch-site': site })).toMatch(
        /another site/,
      );
    }
    expect(
      crossSiteProblem({ ...fromPage, origin: 'http://evil.example' }),
    ).toMatch(/is not this site/);
    expect(
      crossSiteProblem({ ...fromPage, origin: 'http://app.example:3001' }),
    ).toBeDefined();
    expect(crossSiteProblem({ ...fromPage, origin: 'null' })).toBeDefined();
  });
});

describe('the dashboard’s assets', () => {
  it('allow no inline script, no other origin and no framing', () => {
    expect(CONTENT_SECURITY_POLICY).toContain("default-src 'none'");
    expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(CONTENT_SECURITY_POLICY).toContain("frame-ancestors 'none'");
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe|\*|https?:/);
  });

  it('ship a script that parses as is (no build step)', () => {
    // Compiled, not run.
    expect(() => new Script(DASHBOARD_SCRIPT)).not.toThrow();
    expect(DASHBOARD_SCRIPT).not.toMatch(/innerHTML|eval\(|document\.write/);
  });
});
