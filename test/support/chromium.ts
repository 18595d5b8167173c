// Debian's Chromium driven by playwright-core, for end-to-end tests of browser apps. No browser is
// downloaded: the system one at /usr/bin/chromium (override with CHROMIUM_PATH) is launched headless
// with a fresh temporary profile, and every newContext() is a clean slate of cookies and storage.
import { accessSync, constants } from "node:fs";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-quic",
  "--no-first-run",
  "--disable-sync",
];

export type Chromium = {
  browser: Browser;
  /** A new, isolated context (its own cookies, sessionStorage, cache) with bounded action timeouts. */
  newContext(): Promise<BrowserContext>;
  close(): Promise<void>;
};

export async function launchChromium(options: { actionTimeoutMs?: number } = {}): Promise<Chromium> {
  try {
    accessSync(CHROMIUM_PATH, constants.X_OK);
  } catch {
    throw new Error(
      `no Chromium at ${CHROMIUM_PATH} for the browser tests: install Debian's (apt-get install chromium, as .ci/run does) or set CHROMIUM_PATH to a Chromium or Chrome executable`,
    );
  }
  // playwright-core creates a temporary --user-data-dir for launch() and deletes it on close().
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: ARGS, timeout: 30_000 });
  const timeout = options.actionTimeoutMs ?? 10_000;
  return {
    browser,
    async newContext() {
      const context = await browser.newContext();
      context.setDefaultTimeout(timeout);
      context.setDefaultNavigationTimeout(timeout);
      return context;
    },
    close: () => browser.close(),
  };
}

/** Collects, from now on, every Content-Security-Policy violation Chromium reports on the page's console. */
export function collectCspViolations(page: Page): string[] {
  const violations: string[] = [];
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
  });
  return violations;
}
