// Sign-up by invitation (SIGN_UP=invite), without HTTP: the operator invites an address (`idp users
// invite`), the person gets a link by mail, looking at the link uses nothing, and choosing a password
// there uses it once and creates their account, its address verified (the link came to it). Until
// then no user exists; the operator can list and revoke what is pending.
import { randomBytes } from "node:crypto";
import type { Database, Queryable } from "../db/database.ts";
import type { AuditStore } from "../store/audit.ts";
import { ConflictError } from "../store/errors.ts";
import { invitationState, type Invitation, type InvitationStore } from "../store/invitations.ts";
import type { MailOutboxStore } from "../store/mail-outbox.ts";
import type { User, UserStore } from "../store/users.ts";
import type { Sealer } from "../mail/seal.ts";
import { INVITATION_LINK_TTL_SECONDS } from "../mail/templates.ts";
import { hashToken } from "./password-reset.ts";
import type { WebhookStore } from "../store/webhooks.ts";
import { reportUser } from "../webhooks/events.ts";
import { InvalidInputError, validateEmail, validateRoles } from "./operator.ts";
import type { PasswordHasher } from "./passwords.ts";
import { passwordViolation, type PasswordViolation } from "./password-policy.ts";

/** The stores invitations write, over the pool or inside their transaction (built by a composition root). */
export type InvitationStores = {
  invitations: InvitationStore;
  users: Pick<UserStore, "findByEmail" | "create">;
  audit: AuditStore;
  outbox: Pick<MailOutboxStore, "enqueue">;
  webhooks: Pick<WebhookStore, "enqueue">;
};

export type InvitationDeps = {
  db: Database;
  stores: (queryable: Queryable) => InvitationStores;
  hasher: Pick<PasswordHasher, "hash">;
  /**
   * Seals the link's token in the outbox (the server that sends the mail opens it with the same
   * cookie keys). Asked for only when an invitation is sent, so listing and revoking need neither
   * mail nor keys; it throws when this configuration cannot send an invitation.
   */
  sealer: () => Promise<Sealer>;
  /** A mail was queued: the outbox worker of this process can send it now rather than at its next poll. */
  onMailQueued?: () => void;
  now?: () => Date;
};

/** Who invites or revokes, for the audit trail and invited_by: the CLI and its OS user. */
export type Inviter = { actor: string; details?: Record<string, string> };

/** Who accepts an invitation, for the audit trail. */
export type RequestContext = { ip: string; userAgent?: string };

/** What an invitation's pages show: the address invited, in the mail's language. */
export type InvitationLink = { email: string; locale: string };

export type Acceptance =
  | { ok: true; user: User; locale: string }
  | { ok: false; reason: "invalid_link" }
  | ({ ok: false; reason: "exists" } & InvitationLink)
  | ({ ok: false; reason: "mismatch" } & InvitationLink)
  | ({ ok: false; reason: "policy"; violation: PasswordViolation } & InvitationLink);

const NAME_MAX_LENGTH = 200;

function validateName(name: string | undefined): string | null {
  const trimmed = name?.trim();
  if (!trimmed) return null;
  if ([...trimmed].length > NAME_MAX_LENGTH) throw new InvalidInputError(`a name must be at most ${NAME_MAX_LENGTH} characters`);
  if (/[\p{Cc}\u2028\u2029]/u.test(trimmed)) throw new InvalidInputError("a name must not contain control characters");
  return trimmed;
}

/** The label invited_by keeps: the actor, and the OS user when known. */
const inviterLabel = (inviter: Inviter) => (inviter.details?.os_user ? `${inviter.actor}:${inviter.details.os_user}` : inviter.actor);

export function createInvitations(deps: InvitationDeps) {
  const { db, hasher } = deps;
  const now = deps.now ?? (() => new Date());
  const { invitations, users } = deps.stores(db);

  return {
    /**
     * Mails `email` an invitation: in one transaction its older open invitation revoked, the new
     * one stored (only its token's hash), its mail in the outbox and `user.invited` recorded.
     * Refuses an address that has an account.
     */
    async invite(input: { email: string; name?: string; locale: string; roles?: string[] } & Inviter): Promise<Invitation> {
      const email = validateEmail(input.email);
      const name = validateName(input.name);
      const roles = validateRoles(input.roles ?? []);
      const sealer = await deps.sealer();
      const existing = await users.findByEmail(email);
      if (existing) throw new InvalidInputError(`${existing.email} has an account already: nothing to invite (\`idp users send-verification\` confirms its address)`);
      const token = randomBytes(32).toString("base64url");
      const expiresAt = new Date(now().getTime() + INVITATION_LINK_TTL_SECONDS * 1000);
      const invitation = await db.transaction(async (tx) => {
        const stores = deps.stores(tx);
        const { invitation, revoked } = await stores.invitations.issue({ email, name, locale: input.locale, invitedBy: inviterLabel(input), roles, tokenHash: hashToken(token), expiresAt });
        await stores.outbox.enqueue({
          template: "invitation",
          recipient: email,
          locale: input.locale,
          payload: sealer.seal(name ? { token, name } : { token }),
          sendBefore: expiresAt,
        });
        await stores.audit.record({
          event: "user.invited",
          actor: input.actor,
          email,
          details: { ...input.details, locale: input.locale, expires_at: expiresAt.toISOString(), replaced: revoked, ...(roles.length ? { roles: roles.join(",") } : {}) },
        });
        return invitation;
      });
      deps.onMailQueued?.();
      return invitation;
    },

    /** The invitations still usable, oldest first. */
    pending: (): Promise<Invitation[]> => invitations.pending(),

    /** Revokes the address's open invitation, with `user.invitation_revoked`; refuses when there is none. */
    async revoke(input: { email: string } & Inviter): Promise<Invitation> {
      const email = input.email.trim();
      return db.transaction(async (tx) => {
        const stores = deps.stores(tx);
        const [revoked] = await stores.invitations.revokeOpen(email);
        if (!revoked) throw new InvalidInputError(`no pending invitation for ${email}`);
        await stores.audit.record({
          event: "user.invitation_revoked",
          actor: input.actor,
          email: revoked.email,
          details: { ...input.details, invited_at: revoked.createdAt.toISOString(), expired: revoked.expiresAt.getTime() <= now().getTime() },
        });
        return revoked;
      });
    },

    /** Looks at a link without using it (a GET, a mail scanner's too): what its page shows, or undefined when it cannot be used. */
    async inspect(token: string): Promise<InvitationLink | undefined> {
      const found = await invitations.find(hashToken(token));
      if (!found || invitationState(found, now()) !== "usable") return undefined;
      return { email: found.email, locale: found.locale };
    },

    /**
     * Creates the account with a link and a password that follows the policy: one transaction uses
     * the invitation (one atomic UPDATE, so one of several concurrent posts wins), creates the user,
     * verified, and records `user.created`. A refused password leaves the invitation usable; so does
     * an account made with the address meanwhile (the transaction rolls back).
     */
    async accept(input: { token: string; password: string; repeat: string } & RequestContext): Promise<Acceptance> {
      const tokenHash = hashToken(input.token);
      const found = await invitations.find(tokenHash);
      if (!found || invitationState(found, now()) !== "usable") return { ok: false, reason: "invalid_link" };
      const link: InvitationLink = { email: found.email, locale: found.locale };
      const violation = passwordViolation(input.password, { email: found.email });
      if (violation) return { ok: false, reason: "policy", violation, ...link };
      if (input.password !== input.repeat) return { ok: false, reason: "mismatch", ...link };

      // Hashed before the transaction: argon2 takes a while and should hold no connection.
      const passwordHash = await hasher.hash(input.password);
      try {
        return await db.transaction(async (tx) => {
          const stores = deps.stores(tx);
          const invitation = await stores.invitations.consume(tokenHash);
          if (!invitation) return { ok: false, reason: "invalid_link" } as const; // a concurrent post used it first
          const user = await stores.users.create({ email: invitation.email, name: invitation.name, emailVerified: true, passwordHash, roles: invitation.roles });
          await stores.audit.record({
            event: "user.created",
            actor: `user:${user.id}`,
            userId: user.id,
            email: user.email,
            ip: input.ip,
            userAgent: input.userAgent ?? null,
            details: { method: "invitation", invited_by: invitation.invitedBy },
          });
          await reportUser(stores.webhooks, { type: "user.created", user });
          return { ok: true, user, locale: invitation.locale } as const;
        });
      } catch (error) {
        // An account with this address was made since the invitation was sent (the operator, or
        // open sign-up): the transaction rolled back and the invitation stays as it was.
        if (error instanceof ConflictError) return { ok: false, reason: "exists", ...link };
        throw error;
      }
    },
  };
}

export type Invitations = ReturnType<typeof createInvitations>;
