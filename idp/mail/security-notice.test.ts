import { describe, expect, it } from "vitest";
import { supportedLocales, translate } from "../pages/i18n.ts";
import { MailTemplateError, renderMail } from "./templates.ts";

const context = (locale: string) => ({ locale, brand: { name: "Acme", color: "#2457c5" }, origin: "https://auth.acme.example" });

describe("the security notice mail", () => {
  it.each(supportedLocales())("names the change in %s, and links nowhere", (locale) => {
    const mail = renderMail("security_notice", { change: "totp_enrolled", changedAt: "2025-01-31T12:00:00.000Z" }, context(locale));
    expect(mail.subject).toBe(translate(locale, "mail.securityNotice.subject", { brand: "Acme" }));
    expect(mail.text).toContain(translate(locale, "mail.securityNotice.change.totp_enrolled"));
    expect(mail.text).toContain("2025");
    expect(mail.links).toEqual([]);
  });

  it("reads an unknown change as a change, and refuses a missing time", () => {
    expect(renderMail("security_notice", { change: "constructor", changedAt: "2025-01-31T12:00:00.000Z" }, context("en")).text).toContain(
      translate("en", "mail.securityNotice.change.other"),
    );
    expect(() => renderMail("security_notice", { change: "totp_removed" }, context("en"))).toThrow(MailTemplateError);
  });
});
