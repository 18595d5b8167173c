// Sign-up by invitation in a real Chromium: the link from the mail (queued by `idp users invite`,
// received by a real SMTP server), its form with a refused password and then a good one, the
// "account is ready" page, and the page for a used link. Each is checked with axe-core at 320 px,
// in the light and the dark scheme, and fits without horizontal scrolling.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AxeBuilder } from "@axe-core/playwright";
import type { Page } from "playwright-core";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { launchChromium, type Chromium } from "../support/chromium.ts";
import { invitationToken, TestMailServer } from "../support/smtp.ts";
import { runCli } from "../../idp/cli/commands.ts";

const email = "chromium-invite@example.com";
const password = "correct horse battery";

let idp: TestIdp;
let smtp: TestMailServer;
let chromium: Chromium | undefined;

beforeAll(async () => {
  const launching = launchChromium().then((launched) => (chromium = launched));
  launching.catch(() => {});
  smtp = await TestMailServer.start();
  idp = await startTestIdp({ env: { SIGN_UP: "invite", SMTP_URL: smtp.url(), MAIL_POLL_INTERVAL_MS: "100", BRAND_NAME: "Acme", BRAND_COLOR: "#e4572e" } });
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

describe("an invitation in Chromium", () => {
  it("creates the account from the link's form, every page accessible", async () => {
    // The CLI in this process, on the IdP's database and keys.
    const output = { stdout: { write: () => true }, stderr: { write: () => true } };
    const status = await runCli(
      ["users", "invite", "--email", email, "--name", "Chris Chromium"],
      { DATABASE_URL: idp.database.url!, KEYS_DIR: idp.config.keysDir, SMTP_URL: smtp.url(), SIGN_UP: "invite" },
      output,
    );
    expect(status ?? 0).toBe(0);
    const [mail] = await smtp.waitFor(email);
    const link = `${idp.baseUrl}/invite/${invitationToken(mail!)}`;

    const context = await chromium!.newContext();
    try {
      const page = await context.newPage();
      await page.goto(link);
      await page.getByRole("heading", { name: "Create your account" }).waitFor();
      expect(await page.getByText(email, { exact: true }).isVisible()).toBe(true);
      await accessible(page, "the create-account page");

      await page.getByLabel("New password", { exact: true }).fill("short");
      await page.getByLabel("New password again").fill("short");
      await page.getByRole("button", { name: "Create account" }).click();
      await page.getByRole("alert").waitFor();
      expect(await page.getByRole("alert").textContent()).toContain("The password must have at least 8 characters.");
      await accessible(page, "the create-account page with an error");
      expect(await idp.admin.users.findByEmail(email)).toBeUndefined();

      await page.getByLabel("New password", { exact: true }).fill(password);
      await page.getByLabel("New password again").fill(password);
      await page.getByRole("button", { name: "Create account" }).click();
      await page.getByRole("heading", { name: "Your account is ready" }).waitFor();
      await accessible(page, "the account-ready page");
      expect(await idp.admin.users.findByEmail(email)).toMatchObject({ email, name: "Chris Chromium", emailVerified: true });

      expect((await page.goto(link))!.status()).toBe(400);
      await page.getByRole("heading", { name: "This link can no longer be used" }).waitFor();
      await accessible(page, "the used link page");
    } finally {
      await context.close();
    }
  });
});
