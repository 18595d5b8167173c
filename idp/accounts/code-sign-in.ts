// Passwordless sign-in with a one-time code, by mail (with a magic link in the same mail) or by
// SMS, without HTTP. Asking for a code takes the same steps and gets the same answer whether or
// not anyone has the address; a code works only in the browser that asked, five tries at most, and
// every wrong try counts towards the lockout of the address. A link opened in the browser that
// asked signs in after a POST; opened anywhere else it can only approve the sign-in with the
// confirmation code that browser shows, and that browser then continues.
import type { Cooldown } from "../abuse/cooldown.ts";
import { accountKey, type Lockout } from "../abuse/lockout.ts";
import type { AuditStore } from "../store/audit.ts";
import type { CodeOwner, CodePurpose, OneTimeCodeStore } from "../store/one-time-codes.ts";
import type { Sealer } from "../mail/seal.ts";
import type { UserStore } from "../store/users.ts";
import type { CodeSecrets } from "./code-secrets.ts";

/** How long a sign-in code (and its link) works. */
export const CODE_TTL_SECONDS = 10 * 60;
/** How long a sign-in approved from another browser waits for the asking browser to continue. */
export const APPROVAL_TTL_SECONDS = 10 * 60;

export type CodeChannel = "email" | "sms";
const PURPOSE: Record<CodeChannel, CodePurpose> = { email: "sign_in_email", sms: "sign_in_sms" };
/** The message that carries a code, per channel. */
const TEMPLATE: Record<CodeChannel, string> = { email: "sign_in_code", sms: "sms_sign_in_code" };

export type RequestContext = { ip: string; userAgent?: string };

export type CodeSignInDeps = {
  codes: OneTimeCodeStore;
  audit: AuditStore;
  /** A code or link by mail proves the address: it is verified from then on. */
  users: Pick<UserStore, "markEmailVerified">;
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
  now?: () => Date;
};

export type CodeRequestResult = { ok: true } | { ok: false; reason: "rate_limited"; retryAfterSeconds: number };
export type CodeCheckResult =
  | { ok: true; userId: string }
  | { ok: false; reason: "invalid" | "not_confirmed" }
  | { ok: false; reason: "locked" | "rate_limited"; retryAfterSeconds: number };

/** A link as its page shows it: for the browser that asked, or for another one. */
export type LinkView = CodeOwner & { purpose: CodePurpose; sameBrowser: boolean; approved: boolean };

export function createCodeSignIn(deps: CodeSignInDeps) {
  const { codes, audit, secrets, sealer, lockout, cooldown, limits } = deps;
  const now = deps.now ?? (() => new Date());

  const who = (identifier: string, context: RequestContext) => ({
    email: identifier.includes("@") ? identifier : null,
    ip: context.ip,
    userAgent: context.userAgent ?? null,
  });

  /** A wrong code (or none to try): counted towards the lockout of the identifier, and audited. */
  async function failed(channel: CodeChannel, identifier: string, reason: string, context: RequestContext, userId: string | null = null): Promise<CodeCheckResult> {
    const outcome = await lockout.recordFailure(accountKey(identifier));
    await audit.record({ event: "sign_in.failed", actor: "anonymous", userId, ...who(identifier, context), details: { reason, method: `${channel}_code` } });
    if (outcome.locked) return { ok: false, reason: "locked", retryAfterSeconds: outcome.lockedForSeconds };
    return { ok: false, reason: "invalid" };
  }

  async function succeeded(channel: CodeChannel, owner: CodeOwner, method: string, context: RequestContext): Promise<CodeCheckResult> {
    await lockout.recordSuccess(accountKey(owner.identifier));
    if (channel === "email" && (await deps.users.markEmailVerified(owner.userId!))) {
      await audit.record({ event: "email.verified", actor: `user:${owner.userId}`, userId: owner.userId, ...who(owner.identifier, context), details: { method, was_verified: false } });
    }
    await audit.record({ event: "sign_in.succeeded", actor: `user:${owner.userId}`, userId: owner.userId, ...who(owner.identifier, context), details: { method } });
    return { ok: true, userId: owner.userId! };
  }

  /** Lockout and limits, before anything is tried. */
  async function refusedBeforeTrying(identifier: string, context: RequestContext): Promise<CodeCheckResult | undefined> {
    const wait = await limits.codeAttempt(context.ip, identifier);
    if (wait !== undefined) return { ok: false, reason: "rate_limited", retryAfterSeconds: wait };
    const lockedFor = await lockout.lockedFor(accountKey(identifier));
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
      const issue = await cooldown.begin(purpose, identifier);
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
          browserMac: secrets.mac("browser", input.browser),
          expiresAt,
          locale: input.locale,
          interactionUid: input.interactionUid,
          message: { template: TEMPLATE[channel], payload: sealer.seal(token ? { code, token } : { code }) },
          audit: { event: "sign_in.code_requested", ip: input.ip, userAgent: input.userAgent ?? null, details: { channel, cooldown: !issue } },
        })
        .catch(async (error: unknown) => {
          // Nothing was queued: a retry within the cooldown must still send.
          if (issue) await cooldown.cancel(purpose, identifier).catch(() => {});
          throw error;
        });
      if (issued) deps.onMessageQueued?.();
      return { ok: true };
    },

    /** Tries a typed code: it must be the newest one this browser asked for, and not yet tried five times. */
    async verify(input: { channel: CodeChannel; identifier: string; code: string; browser: string | undefined } & RequestContext): Promise<CodeCheckResult> {
      const { channel, identifier } = input;
      const refused = await refusedBeforeTrying(identifier, input);
      if (refused) return refused;
      if (!input.browser) return failed(channel, identifier, "no_code", input);
      const attempt = await codes.attempt({
        purpose: PURPOSE[channel],
        identifier,
        browserMacs: secrets.macs("browser", input.browser),
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
      return { ...found, sameBrowser, approved: found.approved };
    },

    /** A sign-in link posted from the browser that asked: signs in. */
    async signInWithLink(input: { token: string; browser: string | undefined } & RequestContext): Promise<CodeCheckResult> {
      if (!input.browser) return { ok: false, reason: "invalid" };
      const owner = await codes.useLink({ linkMacs: secrets.macs("link", input.token), browserMacs: secrets.macs("browser", input.browser), onMatch: "consume" });
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
      const refused = await refusedBeforeTrying(found.identifier, input);
      if (refused) return refused;
      const confirmed = secrets.confirmationCode(found.browserMac) === input.confirmation;
      const outcome = await codes.approveByLink({ linkMacs, confirmed });
      if (outcome === "unusable") return { ok: false, reason: "invalid" };
      if (outcome === "wrong") return failed("email", found.identifier, "wrong_confirmation", input, found.userId);
      await audit.record({ event: "sign_in.link_approved", actor: "anonymous", userId: found.userId, ...who(found.identifier, input), details: { purpose: found.purpose } });
      return { ok: true, approved: true };
    },

    /** The asking browser continues a sign-in approved on another device. */
    async continueApproved(input: { channel: CodeChannel; identifier: string; browser: string | undefined } & RequestContext): Promise<CodeCheckResult> {
      if (!input.browser) return { ok: false, reason: "not_confirmed" };
      const owner = await codes.consumeApproved({
        purpose: PURPOSE[input.channel],
        identifier: input.identifier,
        browserMacs: secrets.macs("browser", input.browser),
        withinSeconds: APPROVAL_TTL_SECONDS,
      });
      if (!owner?.userId) return { ok: false, reason: "not_confirmed" };
      return succeeded(input.channel, owner, "email_link", input);
    },
  };
}

export type CodeSignIn = ReturnType<typeof createCodeSignIn>;
