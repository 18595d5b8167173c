// Sign-up with a confirmed address, without HTTP: the email first (the same steps and answer
// whether or not it has an account: an address with one gets a "you already have an account"
// mail instead of a code), then its code or link (which approves the address for the browser that
// asked), then a password, which makes the account, verified, in one transaction that uses the
// approval. Until then nothing exists: an unconfirmed sign-up is only a code that expires.
import type { Cooldown } from "../abuse/cooldown.ts";
import { accountKey, type Lockout } from "../abuse/lockout.ts";
import type { Database, Queryable } from "../db/database.ts";
import type { AuditStore } from "../store/audit.ts";
import { ConflictError } from "../store/errors.ts";
import type { Binding, OneTimeCodeStore } from "../store/one-time-codes.ts";
import type { User, UserStore } from "../store/users.ts";
import type { WebhookStore } from "../store/webhooks.ts";
import { reportUser } from "../webhooks/events.ts";
import type { Sealer } from "../mail/seal.ts";
import type { CodeSecrets } from "./code-secrets.ts";
import { CODE_TTL_SECONDS, type RequestContext } from "./code-sign-in.ts";
import type { PasswordHasher } from "./passwords.ts";
import { passwordViolation, type PasswordViolation } from "./password-policy.ts";

const PURPOSE = "sign_up";
/** How long a confirmed address waits for its password. */
export const CONFIRMED_TTL_SECONDS = 30 * 60;

export type SignUpStores = { codes: OneTimeCodeStore; users: Pick<UserStore, "create">; audit: AuditStore; webhooks: Pick<WebhookStore, "enqueue"> };

export type SignUpDeps = {
  db: Database;
  stores: (queryable: Queryable) => SignUpStores;
  secrets: CodeSecrets;
  sealer: Sealer;
  hasher: PasswordHasher;
  lockout: Lockout;
  cooldown: Cooldown;
  limits: {
    /** A sign-up request: per address (counting `weight`) and per email domain. Seconds to wait, or undefined. */
    signUpRequest(ip: string, email: string, weight: 1 | 2): Promise<number | undefined>;
    /** A code typed in: the sign-in limits. */
    codeAttempt(ip: string, identifier: string): Promise<number | undefined>;
  };
  /** SIGN_UP_EMAIL_DOMAINS: only these domains may sign up (undefined: any). */
  allowedDomains?: Set<string>;
  onMailQueued?: () => void;
  /** Waits out the lockout's progressive delay; tests record it instead. */
  sleep?: (ms: number) => Promise<void>;
  now?: () => Date;
};

export type SignUpRequestResult =
  | { ok: true }
  | { ok: false; reason: "domain" }
  | { ok: false; reason: "rate_limited"; retryAfterSeconds: number };
export type SignUpConfirmation =
  | { ok: true }
  | { ok: false; reason: "invalid" }
  | { ok: false; reason: "locked" | "rate_limited"; retryAfterSeconds: number };
export type SignUpCompletion =
  | { ok: true; user: User }
  | { ok: false; reason: "not_confirmed" | "exists" | "mismatch" }
  | { ok: false; reason: "policy"; violation: PasswordViolation };

/** The identifier of an address: lower-cased, as codes and the unique index see it. */
export const emailIdentifier = (email: string) => email.trim().toLowerCase();
const domainOf = (email: string) => email.slice(email.lastIndexOf("@") + 1).toLowerCase();

export function createSignUp(deps: SignUpDeps) {
  const { db, secrets, sealer, hasher, lockout, cooldown, limits } = deps;
  const now = deps.now ?? (() => new Date());
  const { codes, audit } = deps.stores(db);
  const binding = (browser: string, interactionUid: string): Binding => ({ browserMacs: secrets.macs("browser", browser), interactionUid });
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));

  return {
    /** Whether SIGN_UP_EMAIL_DOMAINS lets this address sign up. */
    domainAllowed: (email: string) => !deps.allowedDomains || deps.allowedDomains.has(domainOf(email)),

    /**
     * Sends a code and link to `email`, or, when it has an account, the "you already have one"
     * mail: one statement either way, the same answer.
     */
    async request(input: { email: string; browser: string; locale: string; interactionUid: string; limitWeight: 1 | 2 } & RequestContext): Promise<SignUpRequestResult> {
      const email = input.email.trim();
      const identifier = emailIdentifier(email);
      if (!this.domainAllowed(email)) return { ok: false, reason: "domain" };
      const wait = await limits.signUpRequest(input.ip, identifier, input.limitWeight);
      if (wait !== undefined) return { ok: false, reason: "rate_limited", retryAfterSeconds: wait };
      const browserMac = secrets.mac("browser", input.browser);
      // One mail a minute per address and browser: someone else signing up with this address
      // neither holds this browser up nor cancels its code (the per-address limits cap the mails).
      const cooldownSubject = `${identifier}:${browserMac.subarray(0, 12).toString("base64url")}`;
      const issue = await cooldown.begin(PURPOSE, cooldownSubject);
      const code = secrets.newCode();
      const token = secrets.newSecret();
      await codes
        .request({
          purpose: PURPOSE,
          identifier,
          recipient: email,
          issue,
          codeMac: secrets.mac("code", code),
          linkMac: secrets.mac("link", token),
          browserMac,
          expiresAt: new Date(now().getTime() + CODE_TTL_SECONDS * 1000),
          locale: input.locale,
          interactionUid: input.interactionUid,
          message: {
            template: "sign_up_code",
            payload: sealer.seal({ code, token }),
            existing: { template: "sign_up_existing", payload: sealer.seal({}) },
          },
          audit: { event: "sign_up.requested", ip: input.ip, userAgent: input.userAgent ?? null, details: { cooldown: !issue } },
        })
        .catch(async (error: unknown) => {
          if (issue) await cooldown.cancel(PURPOSE, cooldownSubject).catch(() => {});
          throw error;
        });
      if (issue) deps.onMailQueued?.();
      return { ok: true };
    },

    /** The code from the mail, typed in the browser and sign-up that asked: confirms the address for them. */
    async confirm(input: { email: string; code: string; browser: string | undefined; interactionUid: string } & RequestContext): Promise<SignUpConfirmation> {
      const identifier = emailIdentifier(input.email);
      const wait = await limits.codeAttempt(input.ip, identifier);
      if (wait !== undefined) return { ok: false, reason: "rate_limited", retryAfterSeconds: wait };
      const lockedFor = await lockout.lockedFor(accountKey(identifier));
      if (lockedFor !== undefined) return { ok: false, reason: "locked", retryAfterSeconds: lockedFor };
      const attempt = input.browser
        ? await codes.attempt({ purpose: PURPOSE, identifier, binding: binding(input.browser, input.interactionUid), codeMacs: secrets.macs("code", input.code), onMatch: "approve" })
        : { found: false as const };
      if (attempt.found && attempt.matched) return { ok: true };
      const outcome = await lockout.recordFailure(accountKey(identifier));
      await audit.record({
        event: "sign_up.failed",
        actor: "anonymous",
        email: identifier,
        ip: input.ip,
        userAgent: input.userAgent ?? null,
        details: { reason: attempt.found ? "wrong_code" : "no_code" },
      });
      if (outcome.locked) return { ok: false, reason: "locked", retryAfterSeconds: outcome.lockedForSeconds };
      if (outcome.delayMs) await sleep(outcome.delayMs);
      return { ok: false, reason: "invalid" };
    },

    /** The mail's link, posted in the browser and sign-up that asked: confirms the address for them. */
    async confirmWithLink(input: { token: string; browser: string | undefined; interactionUid: string }): Promise<{ ok: true; email: string } | { ok: false }> {
      if (!input.browser) return { ok: false };
      const owner = await codes.useLink({ purpose: PURPOSE, linkMacs: secrets.macs("link", input.token), binding: binding(input.browser, input.interactionUid), onMatch: "approve" });
      return owner ? { ok: true, email: owner.identifier } : { ok: false };
    },

    /** Whether this browser confirmed the address (by code, link, or a link approved on another device). */
    async confirmed(email: string, browser: string | undefined, interactionUid: string): Promise<boolean> {
      if (!browser) return false;
      return codes.isApproved({ purpose: PURPOSE, identifier: emailIdentifier(email), binding: binding(browser, interactionUid), withinSeconds: CONFIRMED_TTL_SECONDS });
    },

    /** Makes the account with a confirmed address and a password that follows the policy. */
    async complete(input: { email: string; password: string; repeat: string; browser: string | undefined; interactionUid: string } & RequestContext): Promise<SignUpCompletion> {
      const email = input.email.trim();
      const violation = passwordViolation(input.password, { email });
      if (violation) return { ok: false, reason: "policy", violation };
      if (input.password !== input.repeat) return { ok: false, reason: "mismatch" };
      if (!input.browser || !(await this.confirmed(email, input.browser, input.interactionUid))) return { ok: false, reason: "not_confirmed" };
      // Hashed before the transaction: argon2 takes a while and should hold no connection.
      const passwordHash = await hasher.hash(input.password);
      try {
        return await db.transaction(async (tx) => {
          const stores = deps.stores(tx);
          const approval = await stores.codes.consumeApproved({
            purpose: PURPOSE,
            identifier: emailIdentifier(email),
            binding: binding(input.browser!, input.interactionUid),
            withinSeconds: CONFIRMED_TTL_SECONDS,
          });
          if (!approval) return { ok: false, reason: "not_confirmed" } as const;
          const user = await stores.users.create({ email, emailVerified: true, passwordHash });
          const who = { userId: user.id, email: user.email, ip: input.ip, userAgent: input.userAgent ?? null };
          await stores.audit.record({ event: "user.created", actor: `user:${user.id}`, ...who, details: { method: "sign_up" } });
          await stores.audit.record({ event: "sign_in.succeeded", actor: `user:${user.id}`, ...who, details: { method: "sign_up" } });
          await reportUser(stores.webhooks, { type: "user.created", user });
          return { ok: true, user } as const;
        });
      } catch (error) {
        // Someone made an account with this address since it was confirmed (the operator, or a
        // second tab): the transaction rolled back, the approval stays for a retry.
        if (error instanceof ConflictError) return { ok: false, reason: "exists" };
        throw error;
      }
    },
  };
}

export type SignUp = ReturnType<typeof createSignUp>;
