// The password policy: length counted in code points at its boundaries, the shipped common-password
// list, and the email as a password.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { commonPasswordList, passwordProblem, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from "./password-policy.ts";

const TOO_SHORT = "password must be at least 8 characters";
const TOO_LONG = "password must be at most 128 characters";
const COMMON = "password is one of the most commonly used passwords: choose another";
const EMAIL = "password must not be the email address or the part before the @";

// "Xk" + digits: not a common password, whatever its length.
const ofLength = (length: number) => ("Xk" + "7".repeat(length)).slice(0, length);

describe("length", () => {
  it("is 8 to 128 characters", () => {
    expect([PASSWORD_MIN_LENGTH, PASSWORD_MAX_LENGTH]).toEqual([8, 128]);
    expect(passwordProblem(ofLength(7))).toBe(TOO_SHORT);
    expect(passwordProblem(ofLength(8))).toBeUndefined();
    expect(passwordProblem(ofLength(128))).toBeUndefined();
    expect(passwordProblem(ofLength(129))).toBe(TOO_LONG);
    expect(passwordProblem("")).toBe(TOO_SHORT);
  });

  it("counts Unicode code points, so an emoji (two UTF-16 units) is one character", () => {
    const emoji = "🔑";
    expect(emoji.length).toBe(2);
    expect(passwordProblem(emoji.repeat(7))).toBe(TOO_SHORT); // 14 UTF-16 units, 7 characters
    expect(passwordProblem(emoji.repeat(8))).toBeUndefined();
    expect(passwordProblem(emoji.repeat(128))).toBeUndefined(); // 256 UTF-16 units
    expect(passwordProblem(emoji.repeat(129))).toBe(TOO_LONG);
    expect(passwordProblem("ab🔑cd🔑e")).toBe(TOO_SHORT); // 7 code points, 9 units
    expect(passwordProblem("ab🔑cd🔑ef")).toBeUndefined();
  });

  it("refuses a huge password as too long, whatever else is wrong with it", () => {
    expect(passwordProblem("password".repeat(1_000_000))).toBe(TOO_LONG);
  });

  it("has no composition rules: spaces, one character class, any script", () => {
    for (const password of ["correct horse battery staple", "zqxwvjkmtnbp", "пароль-для-входа", "パスワードは長いです", "        x       "]) {
      expect(passwordProblem(password), password).toBeUndefined();
    }
  });
});

describe("common passwords", () => {
  it("refuses the most common ones, in any case", () => {
    for (const password of ["password", "12345678", "qwertyuiop", "iloveyou", "PASSWORD", "Iloveyou", "sunshine", "football"]) {
      expect(passwordProblem(password), password).toBe(COMMON);
    }
  });

  it("ships the whole list, with its source and license, and compares lower-cased", () => {
    const file = readFileSync(new URL("./common-passwords.txt", import.meta.url), "utf8");
    expect(file).toMatch(/^# .*\n# Source: SecLists/);
    expect(file).toContain("# License of the list: MIT.");
    const list = commonPasswordList();
    expect(list.size).toBeGreaterThan(9_900);
    expect(commonPasswordList()).toBe(list); // loaded once
    for (const entry of list) expect(entry).toBe(entry.toLowerCase());
    expect(list.has("")).toBe(false);
    expect([...list].some((entry) => entry.startsWith("#"))).toBe(false);
  });

  it("accepts a long, uncommon password", () => {
    expect(passwordProblem("violet tractor sandwich")).toBeUndefined();
  });
});

describe("the email as a password", () => {
  const email = "Frederick.Longname@example.com";

  it("refuses the email address and its local part, in any case", () => {
    expect(passwordProblem("frederick.longname@example.com", { email })).toBe(EMAIL);
    expect(passwordProblem("Frederick.Longname@Example.COM", { email })).toBe(EMAIL);
    expect(passwordProblem("frederick.longname", { email })).toBe(EMAIL);
    expect(passwordProblem("FREDERICK.LONGNAME", { email: ` ${email} ` })).toBe(EMAIL);
  });

  it("accepts a password that merely contains them, and the email of someone else", () => {
    expect(passwordProblem("frederick.longname!", { email })).toBeUndefined();
    expect(passwordProblem("frederick.longname", { email: "someone@example.com" })).toBeUndefined();
    expect(passwordProblem("frederick.longname")).toBeUndefined();
  });
});
