// Password reset by mail, without HTTP: asking for a link (the same work and answer whether or not
// the email is registered), looking at a link without using it, and choosing the new password,
// which uses the link once, signs the person out everywhere, marks their address verified (the link
// came to it), and tells them by mail.
import type { WebhookStore } from "../store/webhooks.ts";
import { reportUser } from "../webhooks/events.ts";
import { createHash, randomBytes } from "node:crypto";
import type { Database, Queryable } from "../db/database.ts";
import { accountKey, type Lockout } from "../abuse/lockout.ts";
import type { Cooldown } from "../abuse/cooldown.ts";
import type { AuditStore } from "../store/audit.ts";
import type { MailOutboxStore } from "../store/mail-outbox.ts";
import type { OidcPayloadStore } from "../store/oidc-payloads.ts";
import { tokenState, type OneTimeTokenStore, type TokenState } from "../store/one-time-tokens.ts";
import type { UserStore } from "../store/users.ts";
import type { Sealer } from "../mail/seal.ts";
import { RESET_LINK_TTL_SECONDS } from "../mail/templates.ts";
import type { PasswordHasher } from "./passwords.ts";
import { passwordViolation, type PasswordViolation } from "./password-policy.ts";

const PURPOSE = "password_reset";

/** A reset link's token: 32 random bytes, base64url (43 characters). */
export const RESET_TOKEN_PATTERN = "^[A-Za-z0-9_-]{43}$";

/** The stores a reset writes, over the pool or inside its transaction (built by the composition root). */
export type PasswordResetStores = {
  users: Pick<UserStore, "setPasswordHash" | "markEmailVerified" | "findById">;
  tokens: OneTimeTokenStore;
  payloads: Pick<OidcPayloadStore, "revokeByAccountId">;
  audit: AuditStore;
  outbox: Pick<MailOutboxStore, "enqueue">;
  webhooks: Pick<WebhookStore, "enqueue">;
};

export type PasswordResetDeps = {
  db: Database;
  stores: (queryable: Queryable) => PasswordResetStores;
  hasher: PasswordHasher;
  sealer: Sealer;
  lockout: Lockout;
  cooldown: Cooldown;
  /** The posts' rate limits: seconds to wait when over one. */
  limits: {
    passwordResetRequest(ip: string, email: string): Promise<number | undefined>;
    passwordResetCompletion(ip: string): Promise<number | undefined>;
  };
  /** A mail was queued: the outbox worker can send it now rather than at its next poll. */
  onMailQueued?: () => void;
  now?: () => Date;
};

/** Who is asking, for the audit trail. */
export type RequestContext = { ip: string; userAgent?: string };

export type ResetRequestResult = { ok: true } | { ok: false; reason: "rate_limited"; retryAfterSeconds: number };

/** What a link's pages need: the language it was asked in, and the sign-in it was asked from. */
export type ResetLink = { locale: string; interactionUid: string | null };

export type ResetCompletion =
  | ({ ok: true } & ResetLink)
  | { ok: false; reason: "invalid_link" }
  | { ok: false; reason: "rate_limited"; retryAfterSeconds: number }
  | ({ ok: false; reason: "mismatch" } & ResetLink)
  | ({ ok: false; reason: "policy"; violation: PasswordViolation } & ResetLink);

export const hashToken = (token: string): Buffer => createHash("sha256").update(token, "utf8").digest();

export function createPasswordReset(deps: PasswordResetDeps) {
  const { db, hasher, sealer, lockout, cooldown, limits } = deps;
  const now = deps.now ?? (() => new Date());
  const { tokens, audit } = deps.stores(db);

  /** A link that cannot be used, posted: counted against its person's lockout, and audited. */
  async function refused(found: { userId: string; email: string }, state: TokenState, context: RequestContext): Promise<void> {
    await lockout.recordFailure(accountKey(found.email));
    await audit.record({
      event: "password.reset_failed",
      actor: "anonymous",
      userId: found.userId,
      email: found.email,
      ip: context.ip,
      userAgent: context.userAgent ?? null,
      details: { reason: state },
    });
  }

  return {
    /**
     * Asks for a link for `email`. Registered or not, in cooldown or not, the same steps run (a
     * token made, hashed and sealed; one statement) and the answer is the same; only a registered,
     * enabled person outside the cooldown gets a link, and their older links stop working.
     */
    async request(input: { email: string; locale: string; interactionUid?: string } & RequestContext): Promise<ResetRequestResult> {
      const wait = await limits.passwordResetRequest(input.ip, input.email);
      if (wait !== undefined) return { ok: false, reason: "rate_limited", retryAfterSeconds: wait };
      const issue = await cooldown.begin(PURPOSE, accountKey(input.email));
      const token = randomBytes(32).toString("base64url");
      const at = now();
      const expiresAt = new Date(at.getTime() + RESET_LINK_TTL_SECONDS * 1000);
      const issued = await tokens
        .requestByEmail({
        purpose: PURPOSE,
        email: input.email.trim(),
        issue,
        tokenHash: hashToken(token),
        expiresAt,
        locale: input.locale,
        interactionUid: input.interactionUid ?? null,
        mail: { template: "password_reset", payload: sealer.seal({ token }), sendBefore: expiresAt },
        audit: { event: "password.reset_requested", ip: input.ip, userAgent: input.userAgent ?? null, details: { cooldown: !issue } },
      })
        .catch(async (error: unknown) => {
          // Nothing was queued (the statement failed): a retry within the cooldown must still send.
          if (issue) await cooldown.cancel(PURPOSE, accountKey(input.email)).catch(() => {});
          throw error;
        });
      if (issued) deps.onMailQueued?.();
      return { ok: true };
    },

    /** Looks at a link without using it (a GET, a mail scanner's too): usable or not. */
    async inspect(token: string): Promise<ResetLink | undefined> {
      const found = await tokens.find(PURPOSE, hashToken(token));
      if (!found || tokenState(found, now()) !== "usable") return undefined;
      return { locale: found.locale, interactionUid: found.interactionUid };
    },

    /**
     * Sets the new password with a link. The password is checked first (a refused one leaves the
     * link usable); then one transaction uses the link, sets the password, revokes the person's
     * other links, sessions, grants and tokens, records `password.changed` and queues the mail that
     * tells them. A link that cannot be used counts against its person's lockout.
     */
    async complete(input: { token: string; password: string; repeat: string } & RequestContext): Promise<ResetCompletion> {
      const wait = await limits.passwordResetCompletion(input.ip);
      if (wait !== undefined) return { ok: false, reason: "rate_limited", retryAfterSeconds: wait };
      const tokenHash = hashToken(input.token);
      const found = await tokens.find(PURPOSE, tokenHash);
      if (!found) return { ok: false, reason: "invalid_link" };
      const state = tokenState(found, now());
      if (state !== "usable") {
        await refused(found, state, input);
        return { ok: false, reason: "invalid_link" };
      }
      const link: ResetLink = { locale: found.locale, interactionUid: found.interactionUid };
      const violation = passwordViolation(input.password, { email: found.email });
      if (violation) return { ok: false, reason: "policy", violation, ...link };
      if (input.password !== input.repeat) return { ok: false, reason: "mismatch", ...link };

      // Hashed before the transaction: argon2 takes a while and should hold no connection.
      const passwordHash = await hasher.hash(input.password);
      const changedAt = now();
      const changed = await db.transaction(async (tx) => {
        const stores = deps.stores(tx);
        const userId = await stores.tokens.consume(PURPOSE, tokenHash);
        if (!userId) return false; // a concurrent post used it first
        await stores.users.setPasswordHash(userId, passwordHash);
        // The link came by mail to this address: using it proves the person reads it.
        const verifiedNow = await stores.users.markEmailVerified(userId);
        await stores.tokens.revokeOpen(userId, PURPOSE);
        const signedOut = await stores.payloads.revokeByAccountId(userId);
        await stores.audit.record({
          event: "password.changed",
          actor: `user:${userId}`,
          userId,
          email: found.email,
          ip: input.ip,
          userAgent: input.userAgent ?? null,
          details: { method: "reset_link", revoked: signedOut, email_verified_now: verifiedNow },
        });
        const user = verifiedNow ? await stores.users.findById(userId) : undefined;
        if (user) await reportUser(stores.webhooks, { type: "user.updated", user });
        await reportUser(stores.webhooks, { type: "session.revoked", userId, details: { reason: "password_reset" } });
        await stores.outbox.enqueue({
          template: "password_changed",
          recipient: found.email,
          locale: found.locale,
          payload: sealer.seal({ changedAt: changedAt.toISOString() }),
          userId,
        });
        return true;
      });
      if (!changed) {
        await refused(found, "used", input);
        return { ok: false, reason: "invalid_link" };
      }
      await lockout.release(accountKey(found.email));
      deps.onMailQueued?.();
      return { ok: true, ...link };
    },
  };
}

export type PasswordReset = ReturnType<typeof createPasswordReset>;
