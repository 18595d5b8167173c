// The password policy (NIST SP 800-63B 3.1.1.2): 8 to 128 characters counted as Unicode code points, no
// composition rules, and no password from the shipped list of common passwords or equal to the email.
import { readFileSync } from "node:fs";

export const PASSWORD_MIN_LENGTH = 8;
// Bounded so that hashing a hostile password stays cheap: checked before anything is hashed.
export const PASSWORD_MAX_LENGTH = 128;

const COMMON_PASSWORDS_FILE = new URL("./common-passwords.txt", import.meta.url);

let commonPasswords: ReadonlySet<string> | undefined;

/** The shipped list, lower-cased; read from disk once, on first use (it is constant data). */
export function commonPasswordList(): ReadonlySet<string> {
  commonPasswords ??= new Set(
    readFileSync(COMMON_PASSWORDS_FILE, "utf8")
      .split("\n")
      .map((line) => line.replace(/\r$/, ""))
      .filter((line) => line !== "" && !line.startsWith("#"))
      .map((line) => line.toLowerCase()),
  );
  return commonPasswords;
}

/** Why a password is refused, as a code the pages translate. */
export type PasswordViolation = "too_short" | "too_long" | "common" | "email";

/** Why the password is refused, or undefined when it is acceptable. */
export function passwordViolation(password: string, context: { email?: string } = {}): PasswordViolation | undefined {
  // Count code points without materialising an array for a megabyte of input.
  let length = 0;
  for (const _ of password) if (++length > PASSWORD_MAX_LENGTH) return "too_long";
  if (length < PASSWORD_MIN_LENGTH) return "too_short";

  const lower = password.toLowerCase();
  if (commonPasswordList().has(lower)) return "common";

  const email = context.email?.trim().toLowerCase();
  if (email) {
    const at = email.lastIndexOf("@");
    const localPart = at > 0 ? email.slice(0, at) : email;
    if (lower === email || lower === localPart) return "email";
  }
  return undefined;
}

const PROBLEMS: Record<PasswordViolation, string> = {
  too_short: `password must be at least ${PASSWORD_MIN_LENGTH} characters`,
  too_long: `password must be at most ${PASSWORD_MAX_LENGTH} characters`,
  common: "password is one of the most commonly used passwords: choose another",
  email: "password must not be the email address or the part before the @",
};

/** Why the password is refused, as one line for the person choosing it; undefined when it is acceptable. */
export function passwordProblem(password: string, context: { email?: string } = {}): string | undefined {
  const violation = passwordViolation(password, context);
  return violation && PROBLEMS[violation];
}
