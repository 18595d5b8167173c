import { describe, expect, it } from "vitest";
import { supportedLocales } from "../pages/i18n.ts";
import { renderSms, SMS_TEMPLATES, SmsTemplateError } from "./templates.ts";

const context = (locale: string) => ({ locale, brand: { name: "Acme" }, origin: "https://auth.acme.example" });

describe("renderSms", () => {
  it("writes the sign-in and verification codes in English, ending with the WebOTP line", () => {
    expect(renderSms("sms_sign_in_code", { code: "123456" }, context("en"))).toBe(
      "123456 is your Acme sign-in code. It expires in 10 minutes.\n\n@auth.acme.example #123456",
    );
    expect(renderSms("sms_verification_code", { code: "654321" }, context("en"))).toBe(
      "654321 is your Acme code to confirm this phone number. It expires in 10 minutes.\n\n@auth.acme.example #654321",
    );
  });

  it("speaks every language of the pages, each naming the code and the brand", () => {
    const sentences = new Set<string>();
    for (const locale of supportedLocales()) {
      for (const template of SMS_TEMPLATES) {
        const text = renderSms(template, { code: "987654" }, context(locale));
        const [sentence, blank, webOtp, ...rest] = text.split("\n");
        expect(rest, `${locale} ${template}`).toEqual([]);
        expect(blank).toBe("");
        expect(webOtp).toBe("@auth.acme.example #987654");
        expect(sentence).toContain("987654");
        expect(sentence).toContain("Acme");
        expect(sentence).toMatch(/10/);
        sentences.add(sentence!);
      }
    }
    // Every language says it in its own words: no catalogue fell back to English.
    expect(sentences.size).toBe(supportedLocales().length * SMS_TEMPLATES.length);
    expect(renderSms("sms_sign_in_code", { code: "123456" }, context("de"))).toBe(
      "123456 ist Ihr Anmeldecode für Acme. Er läuft in 10 Minuten ab.\n\n@auth.acme.example #123456",
    );
  });

  it("keeps the issuer's port in the WebOTP line", () => {
    expect(renderSms("sms_sign_in_code", { code: "123456" }, { ...context("en"), origin: "http://localhost:3000" })).toMatch(/\n@localhost:3000 #123456$/);
  });

  it("refuses an unknown template, a missing code, and a code the WebOTP line could not carry", () => {
    expect(() => renderSms("password_reset", { code: "123456" }, context("en"))).toThrow(SmsTemplateError);
    for (const code of [undefined, 123456, "", "123", "12 34 56", "123456#", "1234567890123"]) {
      expect(() => renderSms("sms_sign_in_code", { code }, context("en")), String(code)).toThrow(/needs a code/);
    }
  });
});
