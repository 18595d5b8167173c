// Passwordless sign-in with a one-time code, by mail (with a magic link in the same mail) or by
// SMS, without HTTP. Asking for a code takes the same steps and gets the same answer whether or
// not anyone has the address; a code works only in the browser and the sign-in that asked for it,
// five tries at most, and every wrong try counts towards the lockout of the account. A link opened
// in the browser that asked signs in after a POST; opened anywhere else it can only approve the
// sign-in with the confirmation code that browser shows, and that browser then continues.
import type { Cooldown } from "../abuse/cooldown.ts";
import { accountKey, type Lockout } from "../abuse/lockout.ts";
import type { Database, Queryable } from "../db/database.ts";
import type { Stores } from "../store/stores.ts";
import type { Binding, CodeOwner, CodePurpose } from "../store/one-time-codes.ts";
import type { Sealer } from "../mail/seal.ts";
import { CODE_TTL_SECONDS } from "../mail/templates.ts";
import { reportUser } from "../webhooks/events.ts";
import type { CodeSecrets } from "./code-secrets.ts";

export { CODE_TTL_SECONDS };

export type CodeChannel = "email" | "sms";
const PURPOSE: Record<CodeChannel, CodePurpose> = { email: "sign_in_email", sms: "sign_in_sms" };
/** The message that carries a code, per channel. */
const TEMPLATE: Record<CodeChannel, string> = { email: "sign_in_code", sms: "sms_sign_in_code" };

/** Who is asking, for the audit trail. */
export type RequestContext = { ip: string; userAgent?: string };

export type CodeSignInDeps = {
  db: Database;
  stores: (queryable: Queryable) => Pick<Stores, "codes" | "users" | "audit" | "webhooks">;
  secrets: CodeSecrets;
  sealer: Sealer;
  lockout: Lockout;
  cooldown: Cooldown;
  limits: {
    /** A request for a code: per address and per identifier. Seconds to wait, or undefined. */
    codeRequest(channel: CodeChannel, ip: string, identifier: string): Promise<number | undefined>;
    /** A code or confirmation typed in: the sign-in limits. */
    codeAttempt(ip: string, identifier: string): Promise<number | undefined>;
  };
  /** A message was queued: the outbox worker can send it now. */
  onMessageQueued?: () => void;
  /** Waits out the lockout's progressive delay; tests record it instead. */
  sleep?: (ms: number) => Promise<void>;
  now?: () => Date;
};

export type CodeRequestResult = { ok: true } | { ok: false; reason: "rate_limited"; retryAfterSeconds: number };
export type CodeCheckResult =
  | { ok: true; userId: string }
  | { ok: false; reason: "invalid" | "not_confirmed" }
  | { ok: false; reason: "locked" | "rate_limited"; retryAfterSeconds: number };

/** A link as its page shows it: for the browser that asked, or for another one. */
export type LinkView = CodeOwner & { purpose: CodePurpose; sameBrowser: boolean };

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function createCodeSignIn(deps: CodeSignInDeps) {
  const { db, secrets, sealer, lockout, cooldown, limits } = deps;
  const now = deps.now ?? (() => new Date());
  const sleep = deps.sleep ?? sleepFor;
  const { codes, audit, users } = deps.stores(db);
  const binding = (browser: string, interactionUid: string): Binding => ({ browserMacs: secrets.macs("browser", browser), interactionUid });

  const who = (identifier: string, context: RequestContext) => ({
    email: identifier.includes("@") ? identifier : null,
    ip: context.ip,
    userAgent: context.userAgent ?? null,
  });

  /**
   * The lockout an identifier counts towards: its account's, so a number and an email of one
   * person share one budget of guesses. A number is looked up whether or not anyone has it.
   */
  async function lockKey(channel: CodeChannel, identifier: string): Promise<string> {
    if (channel === "email") return accountKey(identifier);
    const user = await users.findByPhone(identifier);
    return accountKey(user?.email ?? identifier);
  }

  /** A wrong code (or none to try): counted towards the lockout, audited, and answered after the progressive delay. */
  async function failed(channel: CodeChannel, identifier: string, reason: string, context: RequestContext, userId: string | null = null): Promise<CodeCheckResult> {
    const outcome = await lockout.recordFailure(await lockKey(channel, identifier));
    await audit.record({ event: "sign_in.failed", actor: "anonymous", userId, ...who(identifier, context), details: { reason, method: `${channel}_code` } });
    if (outcome.locked) return { ok: false, reason: "locked", retryAfterSeconds: outcome.lockedForSeconds };
    if (outcome.delayMs) await sleep(outcome.delayMs);
    return { ok: false, reason: "invalid" };
  }

  async function succeeded(channel: CodeChannel, owner: CodeOwner, method: string, context: RequestContext): Promise<CodeCheckResult> {
    const userId = owner.userId!;
    await lockout.recordSuccess(await lockKey(channel, owner.identifier));
    // A code or link by mail proves the address: verified from now on (and Convex told).
    if (channel === "email") {
      await db.transaction(async (tx) => {
        const stores = deps.stores(tx);
        if (!(await stores.users.markEmailVerified(userId))) return;
        await stores.audit.record({ event: "email.verified", actor: `user:${userId}`, userId, ...who(owner.identifier, context), details: { method, was_verified: false } });
        const user = await stores.users.findById(userId);
        if (user) await reportUser(stores.webhooks, { type: "user.updated", user });
      });
    }
    await audit.record({ event: "sign_in.succeeded", actor: `user:${userId}`, userId, ...who(owner.identifier, context), details: { method } });
    return { ok: true, userId };
  }

  /** Lockout and limits, before anything is tried. */
  async function refusedBeforeTrying(channel: CodeChannel, identifier: string, context: RequestContext): Promise<CodeCheckResult | undefined> {
    const wait = await limits.codeAttempt(context.ip, identifier);
    if (wait !== undefined) return { ok: false, reason: "rate_limited", retryAfterSeconds: wait };
    const lockedFor = await lockout.lockedFor(await lockKey(channel, identifier));
    if (lockedFor !== undefined) return { ok: false, reason: "locked", retryAfterSeconds: lockedFor };
    return undefined;
  }

  return {
    /** A new browser binding secret (see interactions/browser-binding.ts). */
    newBrowserSecret: () => secrets.newSecret(),

    /** The confirmation code the asking browser shows, for a link opened on another device. */
    confirmationCode: (browser: string) => secrets.confirmationCode(secrets.mac("browser", browser)),

    /**
     * Sends a code to `identifier` (a lower-cased email, or an E.164 number) if an enabled person
     * has it (a verified one, for a number). The same steps run and the same answer comes otherwise.
     */
    async request(input: { channel: CodeChannel; identifier: string; browser: string; locale: string; interactionUid: string } & RequestContext): Promise<CodeRequestResult> {
      const { channel, identifier } = input;
      const wait = await limits.codeRequest(channel, input.ip, identifier);
      if (wait !== undefined) return { ok: false, reason: "rate_limited", retryAfterSeconds: wait };
      const purpose = PURPOSE[channel];
      const browserMac = secrets.mac("browser", input.browser);
      // One code a minute per address *and browser*: someone else asking for the same address
      // neither holds this browser up nor cancels its code (the per-address limit caps the mails).
      const cooldownSubject = `${identifier}:${browserMac.subarray(0, 12).toString("base64url")}`;
      const issue = await cooldown.begin(purpose, cooldownSubject);
      const code = secrets.newCode();
      const token = channel === "email" ? secrets.newSecret() : undefined;
      const expiresAt = new Date(now().getTime() + CODE_TTL_SECONDS * 1000);
      const issued = await codes
        .request({
          purpose,
          identifier,
          issue,
          codeMac: secrets.mac("code", code),
          linkMac: token ? secrets.mac("link", token) : null,
          browserMac,
          expiresAt,
          locale: input.locale,
          interactionUid: input.interactionUid,
          message: { template: TEMPLATE[channel], payload: sealer.seal(token ? { code, token } : { code }) },
          audit: { event: "sign_in.code_requested", ip: input.ip, userAgent: input.userAgent ?? null, details: { channel, cooldown: !issue } },
        })
        .catch(async (error: unknown) => {
          // Nothing was queued: a retry within the cooldown must still send.
          if (issue) await cooldown.cancel(purpose, cooldownSubject).catch(() => {});
          throw error;
        });
      if (issued) deps.onMessageQueued?.();
      return { ok: true };
    },

    /** Tries a typed code: the newest one this browser asked for in this sign-in, not yet tried five times. */
    async verify(input: { channel: CodeChannel; identifier: string; code: string; browser: string | undefined; interactionUid: string } & RequestContext): Promise<CodeCheckResult> {
      const { channel, identifier } = input;
      const refused = await refusedBeforeTrying(channel, identifier, input);
      if (refused) return refused;
      if (!input.browser) return failed(channel, identifier, "no_code", input);
      const attempt = await codes.attempt({
        purpose: PURPOSE[channel],
        identifier,
        binding: binding(input.browser, input.interactionUid),
        codeMacs: secrets.macs("code", input.code),
        onMatch: "consume",
      });
      if (!attempt.found) return failed(channel, identifier, "no_code", input);
      if (!attempt.matched) return failed(channel, identifier, "wrong_code", input);
      return succeeded(channel, attempt, `${channel}_code`, input);
    },

    /** The code a link belongs to, unchanged (a GET: mail scanners fetch links); undefined when it cannot be used. */
    async inspectLink(token: string, browser: string | undefined): Promise<LinkView | undefined> {
      const found = await codes.findByLink(secrets.macs("link", token));
      if (!found?.usable) return undefined;
      const sameBrowser = browser !== undefined && secrets.macs("browser", browser).some((mac) => mac.equals(found.browserMac));
      return { ...found, sameBrowser };
    },

    /** A sign-in link posted from the browser and sign-in that asked: signs in. */
    async signInWithLink(input: { token: string; browser: string | undefined; interactionUid: string } & RequestContext): Promise<CodeCheckResult> {
      if (!input.browser) return { ok: false, reason: "invalid" };
      const owner = await codes.useLink({
        purpose: "sign_in_email",
        linkMacs: secrets.macs("link", input.token),
        binding: binding(input.browser, input.interactionUid),
        onMatch: "consume",
      });
      if (!owner?.userId) return { ok: false, reason: "invalid" };
      return succeeded("email", owner, "email_link", input);
    },

    /**
     * A link opened in another browser, with the confirmation code the asking browser shows:
     * approves the sign-in there. A wrong confirmation counts as a wrong code.
     */
    async approveLink(input: { token: string; confirmation: string } & RequestContext): Promise<CodeCheckResult | { ok: true; approved: true }> {
      const linkMacs = secrets.macs("link", input.token);
      const found = await codes.findByLink(linkMacs);
      if (!found?.usable) return { ok: false, reason: "invalid" };
      const refused = await refusedBeforeTrying("email", found.identifier, input);
      if (refused) return refused;
      const confirmed = secrets.confirmationMatches(found.browserMac, input.confirmation);
      const outcome = await codes.approveByLink({ linkMacs, confirmed });
      if (outcome === "unusable") return { ok: false, reason: "invalid" };
      if (outcome === "wrong") return failed("email", found.identifier, "wrong_confirmation", input, found.userId);
      await audit.record({ event: "sign_in.link_approved", actor: "anonymous", userId: found.userId, ...who(found.identifier, input), details: { purpose: found.purpose } });
      return { ok: true, approved: true };
    },

    /** The asking browser continues a sign-in approved on another device (while its code lasts). */
    async continueApproved(input: { channel: CodeChannel; identifier: string; browser: string | undefined; interactionUid: string } & RequestContext): Promise<CodeCheckResult> {
      if (!input.browser) return { ok: false, reason: "not_confirmed" };
      const owner = await codes.consumeApproved({ purpose: PURPOSE[input.channel], identifier: input.identifier, binding: binding(input.browser, input.interactionUid) });
      if (!owner?.userId) return { ok: false, reason: "not_confirmed" };
      return succeeded(input.channel, owner, "email_link", input);
    },
  };
}

export type CodeSignIn = ReturnType<typeof createCodeSignIn>;
