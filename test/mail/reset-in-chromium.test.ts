// The password reset in a real Chromium, every step a click or keystroke: "Forgot password?" on the
// sign-in page, the request, the link from the mail (received by a real SMTP server), the new
// password, and back to the sign-in page. Each reset page is checked with axe-core at 320 px, in the
// light and the dark scheme, and fits without horizontal scrolling.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AxeBuilder } from "@axe-core/playwright";
import type { Page } from "playwright-core";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { launchChromium, type Chromium } from "../support/chromium.ts";
import { discover, startAuthorization, REDIRECT_URI } from "../support/oidc-flow.ts";
import { resetToken, TestMailServer } from "../support/smtp.ts";

const person = { email: "chromium@example.com", password: "correct horse battery" };
const NEW_PASSWORD = "violet tractor sandwich";

let idp: TestIdp;
let smtp: TestMailServer;
let chromium: Chromium | undefined;

beforeAll(async () => {
  const launching = launchChromium().then((launched) => (chromium = launched));
  launching.catch(() => {});
  smtp = await TestMailServer.start();
  idp = await startTestIdp({ env: { SMTP_URL: smtp.url(), MAIL_POLL_INTERVAL_MS: "100", BRAND_NAME: "Acme", BRAND_COLOR: "#e4572e" } });
  await idp.admin.addUser(person);
  await idp.admin.addClient({ id: "web", name: "Web App", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
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

describe("password reset in Chromium", () => {
  it("goes from Forgot password? to a new password and back to the sign-in page, every page accessible", async () => {
    const context = await chromium!.newContext();
    try {
      const page = await context.newPage();
      const start = await startAuthorization(await discover(idp.issuer, "web"));
      await page.goto(start.url.toString());
      await page.getByRole("link", { name: "Forgot password?" }).click();
      await page.waitForURL(/\/reset\?/);
      await accessible(page, "the request page");
      await page.getByLabel("Email").fill(person.email);
      await page.getByRole("button", { name: "Send link" }).click();
      await page.getByRole("heading", { name: "Check your email" }).waitFor();
      await accessible(page, "the check-your-email page");

      const [mail] = await smtp.waitFor(person.email);
      await page.goto(`${idp.baseUrl}/reset/${resetToken(mail!)}`);
      await accessible(page, "the new password page");
      await page.getByLabel("New password", { exact: true }).fill("short");
      await page.getByLabel("New password again").fill("short");
      await page.getByRole("button", { name: "Change password" }).click();
      await page.getByRole("alert").waitFor();
      await accessible(page, "the new password page with an error");
      await page.getByLabel("New password", { exact: true }).fill(NEW_PASSWORD);
      await page.getByLabel("New password again").fill(NEW_PASSWORD);
      await page.getByRole("button", { name: "Change password" }).click();
      await page.getByRole("heading", { name: "Password changed" }).waitFor();
      await accessible(page, "the password changed page");

      await page.getByRole("link", { name: "Continue signing in" }).click();
      await page.getByLabel("Email").fill(person.email);
      await page.getByLabel("Password").fill(NEW_PASSWORD);
      const callback = page.waitForRequest((request) => request.url().startsWith(REDIRECT_URI));
      await page.getByRole("button", { name: "Sign in" }).click();
      expect(new URL((await callback).url()).searchParams.get("code")).toBeTruthy();
    } finally {
      await context.close();
    }
  });
});
