// Spam protection of the sign-up form, without a puzzle for people: a signed render stamp (a form
// sent sooner than a person could, or long after it was shown, is refused), a honeypot field,
// the disposable-domain block list, and optionally ALTCHA proof of work solved in the background.
// The sign-up route renders formFields() with pages/sign-up-fields.ts and calls check() on the post;
// the per-address and per-domain limits are limits.ts's signUpRequest(). http/sign-up-protection.ts
// builds it from the settings.
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto";
import type { Message, MessageId } from "../pages/i18n.ts";
import type { SignUpFormFields } from "../pages/sign-up-fields.ts";
import { emailDomain, type DomainBlockList } from "./disposable-domains.ts";
import type { ProofOfWork } from "./proof-of-work.ts";

/** The form fields the guard reads. The honeypot's name is one a form-filling bot would fill. */
export const SIGN_UP_FIELD_NAMES = { stamp: "form_stamp", honeypot: "website", proofOfWork: "altcha" } as const;

/**
 * JSON-schema properties for the sign-up post's body schema, so its fields pass (and stay small).
 * None is required: a missing stamp is refused by check() with a page, not by the schema with a 400.
 */
export const SIGN_UP_GUARD_BODY_PROPERTIES = {
  [SIGN_UP_FIELD_NAMES.stamp]: { type: "string", maxLength: 200 },
  [SIGN_UP_FIELD_NAMES.honeypot]: { type: "string", maxLength: 1000 },
  [SIGN_UP_FIELD_NAMES.proofOfWork]: { type: "string", maxLength: 4000 },
} as const;

export type SignUpRefusal = "honeypot" | "stamp_invalid" | "too_fast" | "too_old" | "disposable_domain" | "proof_of_work";

export type SignUpCheck =
  /**
   * `limitWeight`: what this sign-up counts against the per-address limit (limits.signUpRequest):
   * 2 when proof of work is on and the browser sent no solution (no script), else 1.
   */
  | { ok: true; limitWeight: 1 | 2 }
  | { ok: false; reason: SignUpRefusal };

/**
 * What the sign-up route answers each refusal with: a 400 page with the form again and this
 * message. The honeypot has none: answer exactly as for an accepted email and send nothing, so a
 * bot learns nothing to adapt to (a person never sees the field, so never meets this).
 */
export const SIGN_UP_REFUSAL_MESSAGES = {
  stamp_invalid: "signUp.spam.stampInvalid",
  too_fast: "signUp.spam.tooFast",
  too_old: "signUp.spam.tooOld",
  proof_of_work: "signUp.spam.proofOfWork",
  disposable_domain: "signUp.spam.disposableDomain",
} as const satisfies Record<Exclude<SignUpRefusal, "honeypot">, MessageId>;

/** The message for a refusal (the disposable one names the domain), or undefined for the honeypot: answer as if accepted. */
export function signUpRefusalMessage(reason: SignUpRefusal, email: string): Message | undefined {
  if (reason === "honeypot") return undefined;
  if (reason === "disposable_domain") return { id: SIGN_UP_REFUSAL_MESSAGES.disposable_domain, values: { domain: emailDomain(email) ?? "" } };
  return { id: SIGN_UP_REFUSAL_MESSAGES[reason] };
}

export type SignUpGuardOptions = {
  /** The app's cookie keys (keys.cookieKeys): the first signs stamps, every one verifies them, so a key rotation refuses no open form. */
  cookieKeys: string[];
  now: () => Date;
  /** A form sent sooner than this after it was rendered is refused (at most 3). */
  minFormAgeSeconds: number;
  /** A form sent later than this after it was rendered is refused. */
  maxFormAgeSeconds: number;
  disposableDomains: DomainBlockList;
  /** On: the widget goes into the form, and a solution it sends must be valid and new. */
  proofOfWork?: {
    verifier: ProofOfWork;
    /** Where the widget's script and challenge are served (http/proof-of-work-widget.ts). */
    widget: { scriptHref: string; challengeUrl: string };
  };
};

export type SignUpGuard = {
  /** The values for one rendering of the form (a new stamp each time). */
  formFields(): SignUpFormFields;
  /** The posted form (its parsed body) and the email it asks to sign up, checked. */
  check(fields: Record<string, unknown>, email: string): Promise<SignUpCheck>;
  /** A proof-of-work challenge for the widget (GET /sign-up/challenge); undefined when proof of work is off. */
  challenge(): Promise<object> | undefined;
};

const STAMP_VERSION = "s1";
const STAMP_INFO = "convex-idp sign-up form stamp v1";
const NONCE_BYTES = 12;

/** The most the render time may lie ahead of this instance's clock (instances' clocks differ a little). */
const CLOCK_SKEW_MS = 5000;

export function createSignUpGuard(options: SignUpGuardOptions): SignUpGuard {
  const { now, minFormAgeSeconds, maxFormAgeSeconds, disposableDomains, proofOfWork } = options;
  if (options.cookieKeys.length === 0) throw new Error("the sign-up guard needs at least one cookie key");
  if (!(minFormAgeSeconds >= 0 && minFormAgeSeconds <= 3)) throw new Error("minFormAgeSeconds must be between 0 and 3");
  if (!(maxFormAgeSeconds > minFormAgeSeconds)) throw new Error("maxFormAgeSeconds must exceed minFormAgeSeconds");
  const keys = options.cookieKeys.map((key) => Buffer.from(hkdfSync("sha256", key, Buffer.alloc(0), STAMP_INFO, 32)));
  const mac = (key: Buffer, body: string) => createHmac("sha256", key).update(body).digest();

  /** s1.<render time, ms>.<nonce>.<HMAC of the rest>: the nonce makes every stamp different. */
  function stamp(): string {
    const body = `${STAMP_VERSION}.${now().getTime()}.${randomBytes(NONCE_BYTES).toString("base64url")}`;
    return `${body}.${mac(keys[0]!, body).toString("base64url")}`;
  }

  /** The render time of a genuine stamp, in ms; undefined for anything else. */
  function renderedAt(value: unknown): number | undefined {
    if (typeof value !== "string" || value.length > 200) return undefined;
    const match = /^(s1\.(\d{1,15})\.[A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{43})$/.exec(value);
    if (!match) return undefined;
    // Compared as text: base64url has several spellings of one value (the last character's spare bits).
    const given = Buffer.from(match[3]!);
    const genuine = keys.some((key) => timingSafeEqual(Buffer.from(mac(key, match[1]!).toString("base64url")), given));
    return genuine ? Number(match[2]) : undefined;
  }

  return {
    formFields() {
      return {
        stamp: { name: SIGN_UP_FIELD_NAMES.stamp, value: stamp() },
        honeypot: { name: SIGN_UP_FIELD_NAMES.honeypot },
        ...(proofOfWork && { proofOfWork: { name: SIGN_UP_FIELD_NAMES.proofOfWork, ...proofOfWork.widget } }),
      };
    },

    async check(fields, email) {
      const trap = fields[SIGN_UP_FIELD_NAMES.honeypot];
      if (trap !== undefined && trap !== "") return { ok: false, reason: "honeypot" };

      const rendered = renderedAt(fields[SIGN_UP_FIELD_NAMES.stamp]);
      if (rendered === undefined) return { ok: false, reason: "stamp_invalid" };
      const ageMs = now().getTime() - rendered;
      if (ageMs < -CLOCK_SKEW_MS) return { ok: false, reason: "stamp_invalid" };
      if (ageMs < minFormAgeSeconds * 1000) return { ok: false, reason: "too_fast" };
      if (ageMs > maxFormAgeSeconds * 1000) return { ok: false, reason: "too_old" };

      const domain = emailDomain(email);
      if (domain && disposableDomains.blocks(domain)) return { ok: false, reason: "disposable_domain" };

      // Last, so a form refused for another reason does not use up its solution.
      if (!proofOfWork) return { ok: true, limitWeight: 1 };
      const outcome = await proofOfWork.verifier.verify(fields[SIGN_UP_FIELD_NAMES.proofOfWork]);
      if (outcome === "invalid") return { ok: false, reason: "proof_of_work" };
      // No solution: a browser without script (or one still solving). Let it through, counted double.
      return { ok: true, limitWeight: outcome === "missing" ? 2 : 1 };
    },

    challenge() {
      return proofOfWork?.verifier.challenge();
    },
  };
}
