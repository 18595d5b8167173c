// The sign-up guard without a browser: render stamps (forged, too fast and too old with a driven
// clock, signed before a key rotation), the honeypot, the disposable-domain list (subdomains, case,
// the operator's additions, no common provider blocked), the words of each refusal, and the
// settings behind it.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createSignUpGuard, SIGN_UP_FIELD_NAMES, signUpRefusalMessage, type SignUpGuardOptions } from "../../idp/abuse/sign-up-guard.ts";
import { createDomainBlockList, emailDomain, loadDisposableDomains, parseBlockedDomains } from "../../idp/abuse/disposable-domains.ts";
import { ConfigError, loadConfig } from "../../idp/config.ts";
import { supportedLocales, translate } from "../../idp/pages/i18n.ts";

const disposable = createDomainBlockList(["mailinator.com", "trash.example"]);

function guardAt(start: number, options: Partial<SignUpGuardOptions> = {}) {
  let offsetMs = 0;
  const guard = createSignUpGuard({
    cookieKeys: ["cookie-key-one"],
    now: () => new Date(start + offsetMs),
    minFormAgeSeconds: 2,
    maxFormAgeSeconds: 3600,
    disposableDomains: disposable,
    ...options,
  });
  return { guard, advance: (ms: number) => (offsetMs += ms) };
}

/** The form as a browser posts it: the guard's fields, the honeypot empty. */
function posted(guard: ReturnType<typeof guardAt>["guard"], extra: Record<string, unknown> = {}) {
  const fields = guard.formFields();
  return { [fields.stamp.name]: fields.stamp.value, [fields.honeypot.name]: "", email: "ada@example.com", ...extra };
}

const T0 = Date.UTC(2031, 0, 1);

const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/** The stamp with one character of its MAC changed: one bit of it, or for the last character a spare bit (the same bytes, spelt differently). */
const flip = (stamp: string, at: number) => {
  const index = stamp.length + at;
  return stamp.slice(0, index) + BASE64URL[BASE64URL.indexOf(stamp[index]!) ^ 1] + stamp.slice(index + 1);
};

describe("the render stamp", () => {
  it("lets a form through from the minimum age up to the maximum, and refuses it sooner or later", async () => {
    const { guard, advance } = guardAt(T0);
    const form = posted(guard);
    advance(1999);
    expect(await guard.check(form, "ada@example.com")).toEqual({ ok: false, reason: "too_fast" });
    advance(1);
    expect(await guard.check(form, "ada@example.com")).toEqual({ ok: true, limitWeight: 1 });
    advance(3600_000 - 2000);
    expect(await guard.check(form, "ada@example.com")).toEqual({ ok: true, limitWeight: 1 });
    advance(1);
    expect(await guard.check(form, "ada@example.com")).toEqual({ ok: false, reason: "too_old" });
  });

  it("is different on every rendering", () => {
    const { guard } = guardAt(T0);
    const stamps = new Set(Array.from({ length: 20 }, () => guard.formFields().stamp.value));
    expect(stamps.size).toBe(20);
  });

  it("refuses a stamp that is missing, malformed, altered or signed with another key", async () => {
    const { guard, advance } = guardAt(T0);
    const stamp = guard.formFields().stamp.value;
    const other = guardAt(T0, { cookieKeys: ["another-cookie-key"] }).guard.formFields().stamp.value;
    advance(10_000);
    const [version, time, nonce, mac] = stamp.split(".");
    const earlier = `${version}.${Number(time) - 60_000}.${nonce}.${mac}`;
    const otherNonce = `${version}.${time}.${randomBytes(12).toString("base64url")}.${mac}`;
    for (const value of [undefined, "", "s1", 42, ["x"], `${stamp}x`, earlier, otherNonce, other, flip(stamp, -1), flip(stamp, -20)]) {
      expect(await guard.check({ [SIGN_UP_FIELD_NAMES.stamp]: value }, "ada@example.com"), String(value)).toEqual({ ok: false, reason: "stamp_invalid" });
    }
    expect(await guard.check({ [SIGN_UP_FIELD_NAMES.stamp]: stamp }, "ada@example.com")).toEqual({ ok: true, limitWeight: 1 });
  });

  it("refuses a stamp rendered further ahead than clocks differ (and lets a small skew count as too fast)", async () => {
    const ahead = guardAt(T0 + 60_000).guard.formFields().stamp.value;
    const slightlyAhead = guardAt(T0 + 3000).guard.formFields().stamp.value;
    const { guard } = guardAt(T0);
    expect(await guard.check({ [SIGN_UP_FIELD_NAMES.stamp]: ahead }, "ada@example.com")).toEqual({ ok: false, reason: "stamp_invalid" });
    expect(await guard.check({ [SIGN_UP_FIELD_NAMES.stamp]: slightlyAhead }, "ada@example.com")).toEqual({ ok: false, reason: "too_fast" });
  });

  it("keeps forms rendered before a cookie key rotation valid: every cookie key verifies, the first signs", async () => {
    const before = guardAt(T0, { cookieKeys: ["old-key"] }).guard.formFields().stamp.value;
    const { guard, advance } = guardAt(T0, { cookieKeys: ["new-key", "old-key"] });
    advance(5000);
    expect(await guard.check({ [SIGN_UP_FIELD_NAMES.stamp]: before }, "ada@example.com")).toEqual({ ok: true, limitWeight: 1 });
    const after = guard.formFields().stamp.value;
    const oldOnly = guardAt(T0 + 10_000, { cookieKeys: ["old-key"] }).guard;
    expect(await oldOnly.check({ [SIGN_UP_FIELD_NAMES.stamp]: after }, "ada@example.com")).toEqual({ ok: false, reason: "stamp_invalid" });
  });

  it("has no minimum age at 0, and refuses a minimum above 3 seconds", async () => {
    const { guard } = guardAt(T0, { minFormAgeSeconds: 0 });
    expect(await guard.check(posted(guard), "ada@example.com")).toEqual({ ok: true, limitWeight: 1 });
    expect(() => guardAt(T0, { minFormAgeSeconds: 4 })).toThrow("between 0 and 3");
  });
});

describe("the honeypot", () => {
  it("refuses a form whose hidden field was filled in, whatever else is right", async () => {
    const { guard, advance } = guardAt(T0);
    const filled = posted(guard, { [SIGN_UP_FIELD_NAMES.honeypot]: "https://spam.example" });
    const empty = posted(guard);
    const absent = posted(guard);
    delete absent[SIGN_UP_FIELD_NAMES.honeypot];
    advance(5000);
    expect(await guard.check(filled, "ada@example.com")).toEqual({ ok: false, reason: "honeypot" });
    expect(await guard.check({ ...empty, [SIGN_UP_FIELD_NAMES.honeypot]: " " }, "ada@example.com")).toEqual({ ok: false, reason: "honeypot" });
    expect(await guard.check(empty, "ada@example.com")).toEqual({ ok: true, limitWeight: 1 });
    expect(await guard.check(absent, "ada@example.com")).toEqual({ ok: true, limitWeight: 1 });
  });

  it("has no message: the route answers as if the email were accepted", () => {
    expect(signUpRefusalMessage("honeypot", "ada@example.com")).toBeUndefined();
  });
});

describe("disposable domains", () => {
  it("refuses a listed domain and its subdomains, in any case, after the form's other checks", async () => {
    const { guard, advance } = guardAt(T0);
    const form = posted(guard);
    advance(5000);
    for (const email of ["x@mailinator.com", "x@MAILINATOR.COM", "x@sub.mailinator.com", "x@a.b.Mailinator.com.", "x@trash.example"]) {
      expect(await guard.check(form, email), email).toEqual({ ok: false, reason: "disposable_domain" });
    }
    for (const email of ["x@notmailinator.com", "x@mailinator.com.example", "x@example.com", "no-at-sign"]) {
      expect(await guard.check(form, email), email).toEqual({ ok: true, limitWeight: 1 });
    }
  });

  it("reads the domain after the last @, lower-cased, in punycode", () => {
    expect(emailDomain('"a@b"@Example.COM')).toBe("example.com");
    expect(emailDomain("x@bücher.example")).toBe("xn--bcher-kva.example");
    expect(emailDomain("x@")).toBeUndefined();
    expect(emailDomain("x@exa mple.com")).toBeUndefined();
    expect(emailDomain("nobody")).toBeUndefined();
  });

  it("ships a maintained list that blocks the well-known disposable services and none of the common providers", async () => {
    const list = await loadDisposableDomains();
    expect(list.size).toBeGreaterThan(100_000);
    for (const domain of ["mailinator.com", "guerrillamail.com", "10minutemail.com", "yopmail.com", "inbox.mailinator.com"]) expect(list.blocks(domain), domain).toBe(true);
    const common = ["gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "yahoo.com", "icloud.com", "proton.me", "gmx.de", "web.de", "orange.fr", "yahoo.co.jp", "qq.com"];
    for (const domain of common) expect(list.blocks(domain), domain).toBe(false);
    // Public suffixes are left out of the list: blocking their subdomains would block universities.
    expect(list.blocks("uw.edu.pl")).toBe(false);
  });

  it("adds the operator's SIGN_UP_BLOCKED_DOMAINS", async () => {
    const list = await loadDisposableDomains(parseBlockedDomains(" Spam.Example , ,other.test "));
    expect(list.blocks("mail.spam.example")).toBe(true);
    expect(list.blocks("other.test")).toBe(true);
    expect(list.blocks("example")).toBe(false);
    expect(() => parseBlockedDomains("example.com,not a domain")).toThrow('"not a domain" is not a domain');
    expect(() => parseBlockedDomains("localhost")).toThrow('"localhost" is not a domain');
  });
});

describe("the words of each refusal", () => {
  it.each(supportedLocales())("%s has a message for each, the disposable one naming the domain", (locale) => {
    for (const reason of ["stamp_invalid", "too_fast", "too_old", "proof_of_work", "disposable_domain"] as const) {
      const message = signUpRefusalMessage(reason, "x@Sub.Mailinator.com")!;
      const text = translate(locale, message.id, message.values);
      expect(text.length, reason).toBeGreaterThan(10);
      if (reason === "disposable_domain") expect(text).toContain("sub.mailinator.com");
    }
    expect(translate(locale, "signUp.spam.honeypotLabel").length).toBeGreaterThan(3);
  });
});

describe("the sign-up spam settings", () => {
  it("default to the documented values", () => {
    expect(loadConfig({})).toMatchObject({
      signUpMinFormSeconds: 2,
      signUpMaxFormSeconds: 3600,
      signUpProofOfWork: false,
      signUpLimitPerIp: 10,
      signUpLimitPerDomain: 50,
      signUpBlockedDomains: undefined,
    });
  });

  it.each([
    [{ SIGN_UP_MIN_FORM_SECONDS: "4" }, "SIGN_UP_MIN_FORM_SECONDS must be at most 3: people with a password manager send the form that fast"],
    [{ SIGN_UP_MIN_FORM_SECONDS: "-1" }, 'SIGN_UP_MIN_FORM_SECONDS must be a whole number, got "-1"'],
    [{ SIGN_UP_MAX_FORM_SECONDS: "2" }, "SIGN_UP_MAX_FORM_SECONDS must be greater than SIGN_UP_MIN_FORM_SECONDS"],
    [{ SIGN_UP_BLOCKED_DOMAINS: "spam.example,@bad" }, 'SIGN_UP_BLOCKED_DOMAINS: "@bad" is not a domain such as example.com'],
    [{ SIGN_UP_PROOF_OF_WORK: "maybe" }, 'SIGN_UP_PROOF_OF_WORK must be true or false, got "maybe"'],
  ])("refuses %j", (env, message) => {
    expect(() => loadConfig(env)).toThrow(new ConfigError(message));
  });
});
