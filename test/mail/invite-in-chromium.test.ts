// Sign-up by invitation in a real Chromium: the link from the mail (queued by `idp users invite`,
// received by a real SMTP server), its form with a refused password and then a good one, the
// "account is ready" page, and the page for a used link. Each is checked with axe-core at 320 px,
// in the light and the dark scheme, and fits without horizontal scrolling.
import { describe, expect, it } from "vitest";
import { accessibleAtPhoneWidth, mailStandInChromium } from "../support/mail-in-chromium.ts";
import { invitationToken } from "../support/smtp.ts";
import { runCli } from "../../idp/cli/commands.ts";

const email = "chromium-invite@example.com";
const password = "correct horse battery";

const stand = mailStandInChromium({ SIGN_UP: "invite" });

describe("an invitation in Chromium", () => {
  it("creates the account from the link's form, every page accessible", async () => {
    // The CLI in this process, on the IdP's database and keys.
    const output = { stdout: { write: () => true }, stderr: { write: () => true } };
    const status = await runCli(
      ["users", "invite", "--email", email, "--name", "Chris Chromium"],
      { DATABASE_URL: stand.idp.database.url!, KEYS_DIR: stand.idp.config.keysDir, SMTP_URL: stand.smtp.url(), SIGN_UP: "invite" },
      output,
    );
    expect(status ?? 0).toBe(0);
    const [mail] = await stand.smtp.waitFor(email);
    const link = `${stand.idp.baseUrl}/invite/${invitationToken(mail!)}`;

    const context = await stand.chromium.newContext();
    try {
      const page = await context.newPage();
      await page.goto(link);
      await page.getByRole("heading", { name: "Create your account" }).waitFor();
      expect(await page.getByText(email, { exact: true }).isVisible()).toBe(true);
      await accessibleAtPhoneWidth(page, "the create-account page");

      await page.getByLabel("New password", { exact: true }).fill("short");
      await page.getByLabel("New password again").fill("short");
      await page.getByRole("button", { name: "Create account" }).click();
      await page.getByRole("alert").waitFor();
      expect(await page.getByRole("alert").textContent()).toContain("The password must have at least 8 characters.");
      await accessibleAtPhoneWidth(page, "the create-account page with an error");
      expect(await stand.idp.admin.users.findByEmail(email)).toBeUndefined();

      await page.getByLabel("New password", { exact: true }).fill(password);
      await page.getByLabel("New password again").fill(password);
      await page.getByRole("button", { name: "Create account" }).click();
      await page.getByRole("heading", { name: "Your account is ready" }).waitFor();
      await accessibleAtPhoneWidth(page, "the account-ready page");
      expect(await stand.idp.admin.users.findByEmail(email)).toMatchObject({ email, name: "Chris Chromium", emailVerified: true });

      expect((await page.goto(link))!.status()).toBe(400);
      await page.getByRole("heading", { name: "This link can no longer be used" }).waitFor();
      await accessibleAtPhoneWidth(page, "the used link page");
    } finally {
      await context.close();
    }
  }, 90_000); // axe in two schemes on each page: slow on a busy machine (nothing asserts on time)
});
