// What the Chromium tests of mailed links share: an IdP that sends mail to a real SMTP server, a
// Chromium launched meanwhile, and the check every page of theirs passes (axe-core at 320 px in both
// colour schemes, nothing scrolling sideways).
import { afterAll, beforeAll, expect } from "vitest";
import { AxeBuilder } from "@axe-core/playwright";
import type { Page } from "playwright-core";
import { startTestIdp, type TestIdp } from "./idp.ts";
import { launchChromium, type Chromium } from "./chromium.ts";
import { TestMailServer } from "./smtp.ts";

export type MailStand = { idp: TestIdp; smtp: TestMailServer; chromium: Chromium };

/**
 * Starts the stand before the file's tests and stops it after them. The returned object is filled
 * in by beforeAll: read its fields inside tests, not at the top of the file.
 */
export function mailStandInChromium(env: Record<string, string> = {}): MailStand {
  const stand = {} as MailStand;
  beforeAll(async () => {
    const launching = launchChromium().then((launched) => (stand.chromium = launched));
    launching.catch(() => {});
    stand.smtp = await TestMailServer.start();
    stand.idp = await startTestIdp({ env: { SMTP_URL: stand.smtp.url(), MAIL_POLL_INTERVAL_MS: "100", BRAND_NAME: "Acme", BRAND_COLOR: "#e4572e", ...env } });
    await launching;
  }, 120_000);
  afterAll(async () => {
    await stand.chromium?.close();
    await stand.idp?.close();
    await stand.smtp?.stop();
  });
  return stand;
}

/** axe-core finds nothing on the page, at 320 px, in both schemes; and nothing scrolls sideways. */
export async function accessibleAtPhoneWidth(page: Page, what: string): Promise<void> {
  await page.setViewportSize({ width: 320, height: 640 });
  for (const colorScheme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme });
    const { violations } = await new AxeBuilder({ page }).analyze();
    expect(violations.map((violation) => `${violation.id}: ${violation.nodes.map((node) => node.target).join(", ")}`), `${what} (${colorScheme})`).toEqual([]);
    expect(await page.evaluate(() => document.documentElement.scrollWidth), `${what} scrolls sideways`).toBeLessThanOrEqual(320);
  }
}
