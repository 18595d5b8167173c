import { describe, expect, it } from "vitest";
import { isPhoneCountry, normalisePhone, parseCountryList, phoneCountryAllowed } from "./phone-numbers.ts";

describe("normalisePhone", () => {
  it.each([
    ["+4915112345678", undefined, "+4915112345678", "DE"],
    ["+49 151 1234 5678", undefined, "+4915112345678", "DE"],
    ["0049 (151) 1234-5678", undefined, "+4915112345678", "DE"],
    ["0151 12345678", "DE", "+4915112345678", "DE"],
    ["0151 12345678", "de", "+4915112345678", "DE"],
    ["+43 664 1234567", "DE", "+436641234567", "AT"],
    ["(202) 555-0123", "US", "+12025550123", "US"],
  ])("%s (default %s) is %s in %s", (input, country, e164, expected) => {
    expect(normalisePhone(input, country)).toEqual({ ok: true, e164, country: expected });
  });

  it.each([
    ["", undefined],
    ["   ", undefined],
    ["not a number", undefined],
    ["0151 12345678", undefined], // national without a country to read it in
    ["0151 12345678", "XX"], // no such country: read as international, which it is not
    ["+49 151 1234", undefined], // too short for a German mobile
    ["+49 151 12345678 9999", undefined],
    ["+1 (202) 555-0123 ext. 5", undefined], // SMS does not reach an extension
    ["+1 202" + " ".repeat(60) + "555 0123", undefined], // past 64 characters, not parsed
    ["+".padEnd(80, "1"), undefined],
  ])("refuses %j (default %s)", (input, country) => {
    expect(normalisePhone(input, country)).toEqual({ ok: false, reason: "invalid" });
  });
});

describe("phoneCountryAllowed", () => {
  it("allows any number when no list is set", () => {
    expect(phoneCountryAllowed("+4915112345678", undefined)).toBe(true);
    expect(phoneCountryAllowed("+80012345678", undefined)).toBe(true);
  });

  it("allows only the listed countries' numbers", () => {
    const list = ["DE", "AT", "CH"];
    expect(phoneCountryAllowed("+4915112345678", list)).toBe(true);
    expect(phoneCountryAllowed("+436641234567", list)).toBe(true);
    expect(phoneCountryAllowed("+12025550123", list)).toBe(false);
    // A non-geographic number (international freephone) belongs to no listed country.
    expect(phoneCountryAllowed("+80012345678", list)).toBe(false);
    expect(phoneCountryAllowed("garbage", list)).toBe(false);
  });
});

describe("parseCountryList", () => {
  it("reads a comma-separated list, upper-cased, blanks and repeats dropped", () => {
    expect(parseCountryList(" de, AT,,ch ,DE")).toEqual(["DE", "AT", "CH"]);
    expect(parseCountryList(undefined)).toBeUndefined();
    expect(parseCountryList(" ")).toBeUndefined();
  });

  it("names a code that is not a country", () => {
    expect(() => parseCountryList("DE,XX")).toThrow(/"XX" is not an ISO 3166-1 alpha-2/);
    expect(() => parseCountryList("DEU")).toThrow(/"DEU"/);
    expect(isPhoneCountry("de")).toBe(false); // callers upper-case first
  });
});
