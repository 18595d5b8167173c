// The SMS the IdP sends, in the reader's language from the same catalogues as the pages (keys
// under sms.), each ending with the origin-bound one-time code line `@<host> #<code>` (WebOTP; the
// format Safari and Chrome read to offer the code in the right site's field, and no other's).
import { translator, type Locale } from "../pages/i18n.ts";
import type { Brand } from "../pages/brand.ts";
import { CODE_TTL_SECONDS } from "../mail/templates.ts";

/** Each SMS template and the values it is queued with (sealed in the outbox). */
export type SmsTemplates = {
  /** A code that signs the person in. */
  sms_sign_in_code: { code: string };
  /** A code that proves the person receives SMS at a number (to verify it). */
  sms_verification_code: { code: string };
};
export type SmsTemplateName = keyof SmsTemplates;
export const SMS_TEMPLATES: readonly SmsTemplateName[] = ["sms_sign_in_code", "sms_verification_code"];

/** What every SMS needs besides its values: language, brand, and the issuer's origin (for the WebOTP line). */
export type SmsContext = { locale: Locale; brand: Pick<Brand, "name">; origin: string };

export class SmsTemplateError extends Error {
  override name = "SmsTemplateError";
}

// Digits or letters, no spaces: the WebOTP line ends at the first space.
const CODE = /^[A-Za-z0-9]{4,12}$/;

export function isSmsTemplate(name: string): name is SmsTemplateName {
  return (SMS_TEMPLATES as readonly string[]).includes(name);
}

/** A queued SMS's text in its language. */
export function renderSms(name: string, values: Record<string, unknown>, context: SmsContext): string {
  if (!isSmsTemplate(name)) throw new SmsTemplateError(`no SMS template ${JSON.stringify(name)}`);
  const code = values.code;
  if (typeof code !== "string" || !CODE.test(code)) throw new SmsTemplateError(`${name} needs a code of 4-12 letters or digits`);
  const t = translator(context.locale);
  const message = name === "sms_sign_in_code" ? "sms.signInCode" : "sms.verificationCode";
  const text = t(message, { code, brand: context.brand.name, minutes: CODE_TTL_SECONDS / 60 });
  return `${text}\n\n@${new URL(context.origin).host} #${code}`;
}
