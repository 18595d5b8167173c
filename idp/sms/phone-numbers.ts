// Phone numbers as the IdP stores and compares them: parsed and validated by libphonenumber-js
// (its full metadata, so a number must be a real one of its country, not merely the right
// length), kept in E.164 (+4915112345678), and checked against SMS_ALLOWED_COUNTRIES.
import { isSupportedCountry, parsePhoneNumberFromString, type CountryCode } from "libphonenumber-js/max";

export type NormalisedPhone = { ok: true; e164: string; country: string | undefined } | { ok: false; reason: "invalid" };

// Longer than any number written with spaces and punctuation: not worth parsing.
const MAX_INPUT = 64;
const E164 = /^\+[1-9]\d{6,14}$/;

/** Whether `code` is an ISO 3166-1 alpha-2 country libphonenumber knows numbers of (upper case). */
export function isPhoneCountry(code: string): boolean {
  return /^[A-Z]{2}$/.test(code) && isSupportedCountry(code);
}

/**
 * A number as typed (spaces, dashes, brackets, a leading 00 or +) in E.164, with its country.
 * Without a leading + or 00 the number is read as one of `defaultCountry` (ISO 3166-1 alpha-2);
 * without a default, it must be international. Extensions are refused: SMS does not reach them.
 */
export function normalisePhone(input: string, defaultCountry?: string): NormalisedPhone {
  const invalid = { ok: false, reason: "invalid" } as const;
  const trimmed = input.trim();
  if (trimmed.length === 0 || trimmed.length > MAX_INPUT) return invalid;
  const country = defaultCountry?.toUpperCase();
  const parsed = parsePhoneNumberFromString(trimmed.replace(/^00/, "+"), country && isPhoneCountry(country) ? (country as CountryCode) : undefined);
  if (!parsed || parsed.ext || !parsed.isValid() || !E164.test(parsed.number)) return invalid;
  return { ok: true, e164: parsed.number, country: parsed.country };
}

/** Whether an SMS may go to this E.164 number: any when no list is set, else only the listed countries'. */
export function phoneCountryAllowed(e164: string, allowedCountries: string[] | undefined): boolean {
  if (allowedCountries === undefined) return true;
  const country = parsePhoneNumberFromString(e164)?.country;
  return country !== undefined && allowedCountries.includes(country);
}

/**
 * SMS_ALLOWED_COUNTRIES as a list ("de, AT,CH" → ["DE", "AT", "CH"]); undefined when unset (any
 * country). Throws a message naming the first code that is not a country.
 */
export function parseCountryList(value: string | undefined): string[] | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const codes = value.split(",").map((code) => code.trim().toUpperCase()).filter(Boolean);
  for (const code of codes) {
    if (!isPhoneCountry(code)) throw new Error(`${JSON.stringify(code)} is not an ISO 3166-1 alpha-2 country code with phone numbers`);
  }
  return [...new Set(codes)];
}
