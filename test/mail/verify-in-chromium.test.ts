// Email verification in a real Chromium: the link from the mail (queued by `idp users
// send-verification`, received by a real SMTP server), its button, the confirmed page, and the page
// for a used link. Each is checked with axe-core at 320 px, in the light and the dark scheme, and
// fits without horizontal scrolling.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AxeBuilder } from "@axe-core/playwright";
import type { Page } from "playwright-core";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { launchChromium, type Chromium } from "../support/chromium.ts";
import { TestMailServer, verificationToken } from "../support/smtp.ts";
import { runCli } from "../../idp/cli/commands.ts";

const person = { email: "chromium-verify@example.com", password: "correct horse battery" };

let idp: TestIdp;
let smtp: TestMailServer;
let chromium: Chromium | undefined;

beforeAll(async () => {
  const launching = launchChromium().then((launched) => (chromium = launched));
  launching.catch(() => {});
  smtp = await TestMailServer.start();
  idp = await startTestIdp({ env: { SMTP_URL: smtp.url(), MAIL_POLL_INTERVAL_MS: "100", BRAND_NAME: "Acme", BRAND_COLOR: "#e4572e" } });
  await idp.admin.addUser(person);
  await launching;
}, 120_000);
afterAll(async () => {
  await chromium?.close();
  await idp?.close();
  await smtp?.stop();
});

/** axe-core finds nothing on the page, at 320 px, in both schemes; and nothing scrolls sideways. */
async function accessible(page: Page, what: string): Promise<void> {
  await page.setViewportSize({ width: 320, height: 640 });
  for (const colorScheme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme });
    const { violations } = await new AxeBuilder({ page }).analyze();
    expect(violations.map((violation) => `${violation.id}: ${violation.nodes.map((node) => node.target).join(", ")}`), `${what} (${colorScheme})`).toEqual([]);
    expect(await page.evaluate(() => document.documentElement.scrollWidth), `${what} scrolls sideways`).toBeLessThanOrEqual(320);
  }
}

describe("email verification in Chromium", () => {
  it("confirms the address with one button, every page accessible", async () => {
    // The CLI in this process, on the IdP's database and keys.
    const output = { stdout: { write: () => true }, stderr: { write: () => true } };
    await runCli(["users", "send-verification", person.email], { DATABASE_URL: idp.database.url!, KEYS_DIR: idp.config.keysDir, SMTP_URL: smtp.url() }, output);
    const [mail] = await smtp.waitFor(person.email);
    const link = `${idp.baseUrl}/verify-email/${verificationToken(mail!)}`;

    const context = await chromium!.newContext();
    try {
      const page = await context.newPage();
      await page.goto(link);
      await accessible(page, "the confirm page");
      await page.getByRole("button", { name: "Confirm my email address" }).click();
      await page.getByRole("heading", { name: "Email address confirmed" }).waitFor();
      await accessible(page, "the confirmed page");
      expect((await idp.admin.users.findByEmail(person.email))!.emailVerified).toBe(true);

      expect((await page.goto(link))!.status()).toBe(400);
      await page.getByRole("heading", { name: "This link can no longer be used" }).waitFor();
      await accessible(page, "the used link page");
    } finally {
      await context.close();
    }
  });
});
