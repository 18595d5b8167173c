// Email verification by mail, without HTTP: an operator sends a person a link (`idp users add
// --send-verification`, `idp users send-verification`), looking at the link uses nothing, and
// confirming it uses it once and marks the address verified, which is what email_verified in
// tokens then says.
import type { WebhookStore } from "../store/webhooks.ts";
import { reportUser } from "../webhooks/events.ts";
import { randomBytes } from "node:crypto";
import type { Database, Queryable } from "../db/database.ts";
import type { AuditStore } from "../store/audit.ts";
import type { MailOutboxStore } from "../store/mail-outbox.ts";
import { tokenState, type OneTimeTokenStore } from "../store/one-time-tokens.ts";
import type { User, UserStore } from "../store/users.ts";
import type { Sealer } from "../mail/seal.ts";
import { VERIFICATION_LINK_TTL_SECONDS } from "../mail/templates.ts";
import { hashToken } from "./password-reset.ts";
import { InvalidInputError } from "./operator.ts";

const PURPOSE = "email_verification";

/** The stores a verification writes, over the pool or inside its transaction (built by a composition root). */
export type EmailVerificationStores = {
  users: Pick<UserStore, "findByEmail" | "findById" | "markEmailVerified">;
  tokens: OneTimeTokenStore;
  audit: AuditStore;
  outbox: Pick<MailOutboxStore, "enqueue">;
  webhooks: Pick<WebhookStore, "enqueue">;
};

export type EmailVerificationDeps = {
  db: Database;
  stores: (queryable: Queryable) => EmailVerificationStores;
  /** Seals the link's token in the outbox; the server that sends the mail must open it (same cookie keys). */
  sealer: Sealer;
  /** A mail was queued: the outbox worker of this process can send it now rather than at its next poll. */
  onMailQueued?: () => void;
  now?: () => Date;
};

/** Who sends a link, for the audit trail: the CLI and its OS user. */
export type Sender = { actor: string; details?: Record<string, string> };

/** Who confirms a link, for the audit trail. */
export type RequestContext = { ip: string; userAgent?: string };

/** What a link's pages need: the language the mail was written in. */
export type VerificationLink = { locale: string };

export type VerificationResult = ({ ok: true } & VerificationLink) | { ok: false; reason: "invalid_link" };

export function createEmailVerification(deps: EmailVerificationDeps) {
  const { db, sealer } = deps;
  const now = deps.now ?? (() => new Date());
  const { users, tokens } = deps.stores(db);

  return {
    /**
     * Mails `email`'s person a link that verifies the address: in one transaction a new token
     * (revoking their older links), its mail in the outbox, and `email.verification_sent`. Refuses
     * an unknown, disabled or already verified address.
     */
    async send(input: { email: string; locale: string } & Sender): Promise<User> {
      const user = await users.findByEmail(input.email.trim());
      if (!user) throw new InvalidInputError(`no user with email ${input.email}`);
      if (user.disabled) throw new InvalidInputError(`${user.email} is disabled: a link would not work (\`idp users enable\` first)`);
      if (user.emailVerified) throw new InvalidInputError(`${user.email} is already verified: nothing to send`);
      const token = randomBytes(32).toString("base64url");
      const expiresAt = new Date(now().getTime() + VERIFICATION_LINK_TTL_SECONDS * 1000);
      await db.transaction(async (tx) => {
        const stores = deps.stores(tx);
        await stores.tokens.issue({ purpose: PURPOSE, userId: user.id, tokenHash: hashToken(token), expiresAt, locale: input.locale, interactionUid: null });
        await stores.outbox.enqueue({
          template: "email_verification",
          recipient: user.email,
          locale: input.locale,
          payload: sealer.seal({ token }),
          userId: user.id,
          sendBefore: expiresAt,
        });
        await stores.audit.record({
          event: "email.verification_sent",
          actor: input.actor,
          userId: user.id,
          email: user.email,
          details: { ...input.details, locale: input.locale, expires_at: expiresAt.toISOString() },
        });
      });
      deps.onMailQueued?.();
      return user;
    },

    /** Looks at a link without using it (a GET, a mail scanner's too): usable or not. */
    async inspect(token: string): Promise<VerificationLink | undefined> {
      const found = await tokens.find(PURPOSE, hashToken(token));
      if (!found || tokenState(found, now()) !== "usable") return undefined;
      return { locale: found.locale };
    },

    /**
     * Confirms the address with a link: one transaction uses the link (one atomic UPDATE, so one
     * of several concurrent posts wins), sets email_verified and records `email.verified`. A link
     * that is unknown, used, superseded, expired or of a disabled person changes nothing.
     */
    async confirm(input: { token: string } & RequestContext): Promise<VerificationResult> {
      const tokenHash = hashToken(input.token);
      const found = await tokens.find(PURPOSE, tokenHash);
      if (!found || tokenState(found, now()) !== "usable") return { ok: false, reason: "invalid_link" };
      const confirmed = await db.transaction(async (tx) => {
        const stores = deps.stores(tx);
        const userId = await stores.tokens.consume(PURPOSE, tokenHash);
        if (!userId) return false; // a concurrent post used it first
        const newly = await stores.users.markEmailVerified(userId);
        await stores.audit.record({
          event: "email.verified",
          actor: `user:${userId}`,
          userId,
          email: found.email,
          ip: input.ip,
          userAgent: input.userAgent ?? null,
          details: { method: "verification_link", was_verified: !newly },
        });
        const user = newly ? await stores.users.findById(userId) : undefined;
        if (user) await reportUser(stores.webhooks, { type: "user.updated", user });
        return true;
      });
      return confirmed ? { ok: true, locale: found.locale } : { ok: false, reason: "invalid_link" };
    },
  };
}

export type EmailVerification = ReturnType<typeof createEmailVerification>;
