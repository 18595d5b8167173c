// Email verification in a real Chromium: the link from the mail (queued by `idp users
// send-verification`, received by a real SMTP server), its button, the confirmed page, and the page
// for a used link. Each is checked with axe-core at 320 px, in the light and the dark scheme, and
// fits without horizontal scrolling.
import { beforeAll, describe, expect, it } from "vitest";
import { accessibleAtPhoneWidth, mailStandInChromium } from "../support/mail-in-chromium.ts";
import { verificationToken } from "../support/smtp.ts";
import { runCli } from "../../idp/cli/commands.ts";

const person = { email: "chromium-verify@example.com", password: "correct horse battery" };

const stand = mailStandInChromium();
beforeAll(async () => {
  await stand.idp.admin.addUser(person);
});

describe("email verification in Chromium", () => {
  it("confirms the address with one button, every page accessible", async () => {
    // The CLI in this process, on the IdP's database and keys.
    const output = { stdout: { write: () => true }, stderr: { write: () => true } };
    await runCli(["users", "send-verification", person.email], { DATABASE_URL: stand.idp.database.url!, KEYS_DIR: stand.idp.config.keysDir, SMTP_URL: stand.smtp.url() }, output);
    const [mail] = await stand.smtp.waitFor(person.email);
    const link = `${stand.idp.baseUrl}/verify-email/${verificationToken(mail!)}`;

    const context = await stand.chromium.newContext();
    try {
      const page = await context.newPage();
      await page.goto(link);
      await accessibleAtPhoneWidth(page, "the confirm page");
      await page.getByRole("button", { name: "Confirm my email address" }).click();
      await page.getByRole("heading", { name: "Email address confirmed" }).waitFor();
      await accessibleAtPhoneWidth(page, "the confirmed page");
      expect((await stand.idp.admin.users.findByEmail(person.email))!.emailVerified).toBe(true);

      expect((await page.goto(link))!.status()).toBe(400);
      await page.getByRole("heading", { name: "This link can no longer be used" }).waitFor();
      await accessibleAtPhoneWidth(page, "the used link page");
    } finally {
      await context.close();
    }
  }, 90_000); // axe in two schemes on each page: slow on a busy machine (nothing asserts on time)
});
