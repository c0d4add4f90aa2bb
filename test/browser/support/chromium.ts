import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';

/**
 * `CHROMIUM_PATH` when set, else Debian's Chromium (`apt-get install -y chromium`).
 * `undefined` when there is none: the browser tests are then skipped, with
 * one line saying so.
 */
export function chromiumPath(): string | undefined {
  // When set, CHROMIUM_PATH is the only candidate (a missing one skips the tests).
  const candidates = process.env.CHROMIUM_PATH
    ? [process.env.CHROMIUM_PATH]
    : ['/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((path) => existsSync(path));
}

export const SKIP_LINE =
  'Dashboard browser tests SKIPPED: no Chromium at /usr/bin/chromium. Install it with `apt-get install -y chromium` (Debian), or set CHROMIUM_PATH.';

/** Headless Chromium, offline: no sandbox (root in CI), no GPU, no background requests. */
export async function launchChromium(executablePath: string): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}
