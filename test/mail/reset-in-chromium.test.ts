// The password reset in a real Chromium, every step a click or keystroke: "Forgot password?" on the
// sign-in page, the request, the link from the mail (received by a real SMTP server), the new
// password, and back to the sign-in page. Each reset page is checked with axe-core at 320 px, in the
// light and the dark scheme, and fits without horizontal scrolling.
import { beforeAll, describe, expect, it } from "vitest";
import { accessibleAtPhoneWidth, mailStandInChromium } from "../support/mail-in-chromium.ts";
import { discover, startAuthorization, REDIRECT_URI } from "../support/oidc-flow.ts";
import { resetToken } from "../support/smtp.ts";

const person = { email: "chromium@example.com", password: "correct horse battery" };
const NEW_PASSWORD = "violet tractor sandwich";

const stand = mailStandInChromium();
beforeAll(async () => {
  await stand.idp.admin.addUser(person);
  await stand.idp.admin.addClient({ id: "web", name: "Web App", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
});

describe("password reset in Chromium", () => {
  it("goes from Forgot password? to a new password and back to the sign-in page, every page accessible", async () => {
    const context = await stand.chromium.newContext();
    try {
      const page = await context.newPage();
      const start = await startAuthorization(await discover(stand.idp.issuer, "web"));
      await page.goto(start.url.toString());
      await page.getByRole("link", { name: "Forgot password?" }).click();
      await page.waitForURL(/\/reset\?/);
      await accessibleAtPhoneWidth(page, "the request page");
      await page.getByLabel("Email").fill(person.email);
      await page.getByRole("button", { name: "Send link" }).click();
      await page.getByRole("heading", { name: "Check your email" }).waitFor();
      await accessibleAtPhoneWidth(page, "the check-your-email page");

      const [mail] = await stand.smtp.waitFor(person.email);
      await page.goto(`${stand.idp.baseUrl}/reset/${resetToken(mail!)}`);
      await accessibleAtPhoneWidth(page, "the new password page");
      await page.getByLabel("New password", { exact: true }).fill("short");
      await page.getByLabel("New password again").fill("short");
      await page.getByRole("button", { name: "Change password" }).click();
      await page.getByRole("alert").waitFor();
      await accessibleAtPhoneWidth(page, "the new password page with an error");
      await page.getByLabel("New password", { exact: true }).fill(NEW_PASSWORD);
      await page.getByLabel("New password again").fill(NEW_PASSWORD);
      await page.getByRole("button", { name: "Change password" }).click();
      await page.getByRole("heading", { name: "Password changed" }).waitFor();
      await accessibleAtPhoneWidth(page, "the password changed page");

      await page.getByRole("link", { name: "Continue signing in" }).click();
      await page.getByLabel("Email").fill(person.email);
      await page.getByLabel("Password").fill(NEW_PASSWORD);
      const callback = page.waitForRequest((request) => request.url().startsWith(REDIRECT_URI));
      await page.getByRole("button", { name: "Sign in", exact: true }).click();
      expect(new URL((await callback).url()).searchParams.get("code")).toBeTruthy();
    } finally {
      await context.close();
    }
  }, 90_000); // axe in two schemes on each page: slow on a busy machine (nothing asserts on time)
});
