import { describe, expect, it } from "vitest";
import { supportedLocales, translate } from "../pages/i18n.ts";
import { renderMail } from "./templates.ts";

const token = "A".repeat(40) + "b_-";
const context = (locale: string, name = "Acme") => ({ locale, brand: { name, color: "#2457c5", logoUrl: "/assets/logo.svg?v=1" }, origin: "https://auth.acme.example" });

describe("the mails", () => {
  it.each(supportedLocales())("are written in %s, text and HTML, with the link in both", (locale) => {
    const mail = renderMail("password_reset", { token }, context(locale));
    const link = `https://auth.acme.example/reset/${token}`;
    expect(mail.subject).toBe(translate(locale, "mail.passwordReset.subject", { brand: "Acme" }));
    expect(mail.text).toContain(link);
    expect(mail.text).toContain(translate(locale, "mail.passwordReset.expiry", { minutes: 15 }));
    expect(mail.html).toContain(`<html lang="${locale}">`);
    expect(mail.html).toContain(`href="${link}"`);
    expect(mail.links).toEqual([link]);
    const changed = renderMail("password_changed", { changedAt: "2025-01-31T12:00:00.000Z" }, context(locale));
    expect(changed.subject).toBe(translate(locale, "mail.passwordChanged.subject", { brand: "Acme" }));
    expect(changed.text).toContain("2025");
    expect(changed.text).toContain("https://auth.acme.example/reset");
    const verification = renderMail("email_verification", { token }, context(locale));
    const verifyLink = `https://auth.acme.example/verify-email/${token}`;
    expect(verification.subject).toBe(translate(locale, "mail.emailVerification.subject", { brand: "Acme" }));
    expect(verification.text).toContain(verifyLink);
    expect(verification.text).toContain(translate(locale, "mail.emailVerification.expiry", { hours: 24 }));
    expect(verification.html).toContain(`href="${verifyLink}"`);
    expect(verification.links).toEqual([verifyLink]);
    const invitation = renderMail("invitation", { token, name: "Ivy <Invited>" }, context(locale));
    const inviteLink = `https://auth.acme.example/invite/${token}`;
    expect(invitation.subject).toBe(translate(locale, "mail.invitation.subject", { brand: "Acme" }));
    expect(invitation.text).toContain(translate(locale, "mail.invitation.greeting", { name: "Ivy <Invited>" }));
    expect(invitation.text).toContain(inviteLink);
    expect(invitation.text).toContain(translate(locale, "mail.invitation.expiry", { days: 7 }));
    expect(invitation.html).toContain(`href="${inviteLink}"`);
    expect(invitation.html).toContain("Ivy &lt;Invited&gt;");
    expect(invitation.links).toEqual([inviteLink]);
    // Without a name, no greeting.
    expect(renderMail("invitation", { token }, context(locale)).text).not.toContain(translate(locale, "mail.invitation.greeting", { name: "" }).trim());
  });

  it("differ per language", () => {
    const subjects = new Set(supportedLocales().map((locale) => renderMail("password_reset", { token }, context(locale)).subject));
    expect(subjects.size).toBe(supportedLocales().length);
  });

  it("carry the brand: name, logo from the IdP's origin, colour on the button; everything escaped", () => {
    const mail = renderMail("password_reset", { token }, context("en", `Acme & <Sons> "Ltd"`));
    expect(mail.html).toContain('<img src="https://auth.acme.example/assets/logo.svg?v=1"');
    expect(mail.html).toContain("Acme &amp; &lt;Sons&gt; &quot;Ltd&quot;");
    expect(mail.html).not.toContain("<Sons>");
    expect(mail.html).toContain("background:#2457c5");
    expect(mail.text).toContain(`Acme & <Sons> "Ltd"`);
  });

  it("refuse values that are not theirs: a malformed token, an unknown template", () => {
    expect(() => renderMail("password_reset", { token: "short" }, context("en"))).toThrow(/token/);
    expect(() => renderMail("password_reset", { token: `${token}"><script>` }, context("en"))).toThrow(/token/);
    expect(() => renderMail("email_verification", { token: "short" }, context("en"))).toThrow(/token/);
    expect(() => renderMail("invitation", { token: "short" }, context("en"))).toThrow(/token/);
    expect(() => renderMail("nope", {}, context("en"))).toThrow(/no mail template/);
    expect(() => renderMail("password_changed", { changedAt: "yesterday" }, context("en"))).toThrow(/changedAt/);
  });
});
