// Who a person signing in through an upstream is here: a returning identity by (issuer, subject)
// only; on a first sign-in an automatic link (trusted provider, email verified there and here), a
// link the person confirms with the local password, or a new account where sign-up is allowed.
// Each link, sign-in and account writes its audit events in one transaction. No HTTP here.
import type { AuthenticationMethod } from "../accounts/authentication-methods.ts";
import type { Database, Queryable } from "../db/database.ts";
import type { SecurityNotices } from "../accounts/security-notices.ts";
import type { AuditStore } from "../store/audit.ts";
import type { MailOutboxStore } from "../store/mail-outbox.ts";
import { ConflictError } from "../store/errors.ts";
import type { UpstreamProvider, UpstreamStore } from "../store/upstreams.ts";
import type { User, UserStore } from "../store/users.ts";
import type { WebhookStore } from "../store/webhooks.ts";
import { reportUser } from "../webhooks/events.ts";
import type { UpstreamClaims } from "./upstream-client.ts";

/** Why no account can be signed in with this upstream identity. */
export type FederationRefusal =
  /** No account has this email, and the provider does not allow sign-up. */
  | "no_account"
  /** No verified email from the provider: nothing to match or create an account with. */
  | "no_email"
  /** An account has the email, but no password to confirm the link with. */
  | "cannot_link"
  | "disabled";

export type FederationOutcome =
  | { kind: "signed_in"; userId: string; methods: AuthenticationMethod[] }
  /** An account has the email: its password confirms the link (confirmLink). */
  | { kind: "confirm"; userId: string; email: string }
  | { kind: "refused"; reason: FederationRefusal };

export type RequestContext = { ip?: string; userAgent?: string; /** The page's language, for the notice mail. */ locale?: string };

// The RFC 8176 methods a trusted upstream may add to ours (mfa is recomputed from the kinds).
// A trusted upstream's passwords and codes count here (its password and one-time code together are
// two factors), its keys do not: a passkey checked elsewhere is not phishing-resistant here.
const CARRIED: ReadonlySet<string> = new Set(["pwd", "otp", "sms"]);

export type FederatedSignInDeps = {
  db: Database;
  stores: (queryable: Queryable) => { users: UserStore; upstreams: UpstreamStore; audit: AuditStore; webhooks: WebhookStore; outbox: Pick<MailOutboxStore, "enqueue"> };
  /** Records a link or unlink of an existing account and mails the person "your sign-in methods changed" in its transaction. */
  notices: SecurityNotices;
  /** Wakes the mail worker after a notice was queued. */
  onMailQueued?: () => void;
};

export function createFederatedSignIn(deps: FederatedSignInDeps) {
  const { db, stores } = deps;

  /** fed, and what a trusted upstream says it checked. */
  function methodsOf(provider: UpstreamProvider, claims: UpstreamClaims, local: AuthenticationMethod[] = []): AuthenticationMethod[] {
    const carried = provider.trustEmail ? (claims.amr.filter((method) => CARRIED.has(method)) as AuthenticationMethod[]) : [];
    return ["fed", ...local, ...carried];
  }

  const profileOf = (claims: UpstreamClaims) => ({ email: claims.email, name: claims.name, picture: claims.picture });

  /** Name and picture always; the email only from a trusted provider that verified it. */
  async function refreshUser(s: ReturnType<FederatedSignInDeps["stores"]>, provider: UpstreamProvider, claims: UpstreamClaims, userId: string) {
    const trustedEmail = provider.trustEmail && claims.emailVerified && claims.email ? claims.email : undefined;
    await s.upstreams.updateUserProfile(userId, { name: claims.name, picture: claims.picture, email: trustedEmail });
  }

  const who = (user: Pick<User, "id" | "email">, context: RequestContext) => ({
    actor: `user:${user.id}`,
    userId: user.id,
    email: user.email,
    ip: context.ip ?? null,
    userAgent: context.userAgent ?? null,
  });

  /** Links (issuer, subject) to the user and signs them in, in one transaction; how the link was proved goes in the audit. */
  async function linkAndSignIn(provider: UpstreamProvider, claims: UpstreamClaims, user: User, proof: "verified_email" | "password", context: RequestContext) {
    const mailed = await db.transaction(async (tx) => {
      const s = stores(tx);
      await s.upstreams.link({ issuer: claims.issuer, subject: claims.subject, userId: user.id, providerId: provider.id, ...profileOf(claims) });
      await refreshUser(s, provider, claims, user.id);
      // The person is told, in case it was not them: a new way into an existing account.
      const queued = await deps.notices.record(s, {
        user,
        change: "identity_linked",
        event: "identity.linked",
        actor: `user:${user.id}`,
        ip: context.ip,
        userAgent: context.userAgent,
        locale: context.locale,
        details: { upstream: provider.id, issuer: claims.issuer, proof },
      });
      await s.audit.record({ event: "sign_in.succeeded", ...who(user, context), details: { method: "federated", upstream: provider.id } });
      return queued;
    });
    if (mailed) deps.onMailQueued?.();
  }

  return {
    /** The outcome of a sign-in that the upstream completed with these claims. */
    async resolve(provider: UpstreamProvider, claims: UpstreamClaims, context: RequestContext = {}): Promise<FederationOutcome> {
      const s = stores(db);
      const identity = await s.upstreams.findIdentity(claims.issuer, claims.subject);
      if (identity) {
        const user = await s.users.findById(identity.userId);
        if (!user || user.disabled) return { kind: "refused", reason: "disabled" };
        await db.transaction(async (tx) => {
          const t = stores(tx);
          await t.upstreams.touch(claims.issuer, claims.subject, profileOf(claims));
          await refreshUser(t, provider, claims, user.id);
          await t.audit.record({ event: "sign_in.succeeded", ...who(user, context), details: { method: "federated", upstream: provider.id } });
        });
        return { kind: "signed_in", userId: user.id, methods: methodsOf(provider, claims) };
      }

      if (!claims.email) return { kind: "refused", reason: "no_email" };
      const local = await s.users.findByEmail(claims.email);
      if (local) {
        if (local.disabled) return { kind: "refused", reason: "disabled" };
        // Automatic only when both sides verified the address, and this provider is trusted with
        // it, and the account has no identity at this provider yet: a second account there with
        // the same address must prove the password like anyone else.
        const linkedHere = (await s.upstreams.identitiesOf(local.id)).some((linked) => linked.providerId === provider.id);
        if (provider.trustEmail && claims.emailVerified && local.emailVerified && !linkedHere) {
          try {
            await linkAndSignIn(provider, claims, local, "verified_email", context);
          } catch (error) {
            if (error instanceof ConflictError) return { kind: "refused", reason: "cannot_link" };
            throw error;
          }
          return { kind: "signed_in", userId: local.id, methods: methodsOf(provider, claims) };
        }
        if (!local.passwordHash) return { kind: "refused", reason: "cannot_link" };
        return { kind: "confirm", userId: local.id, email: local.email };
      }

      // A new account only with an address the provider verified, so nobody's address is taken by another.
      if (!provider.allowSignUp) return { kind: "refused", reason: "no_account" };
      if (!claims.emailVerified) return { kind: "refused", reason: "no_email" };
      try {
        const user = await db.transaction(async (tx) => {
          const t = stores(tx);
          // Verified here only when the provider is trusted for email: an untrusted one could claim
          // someone else's address, and a verified address is what later links accounts by email.
          const created = await t.users.create({ email: claims.email!, emailVerified: provider.trustEmail, name: claims.name, picture: claims.picture });
          await t.upstreams.link({ issuer: claims.issuer, subject: claims.subject, userId: created.id, providerId: provider.id, ...profileOf(claims) });
          await t.audit.record({ event: "user.created", ...who(created, context), details: { method: "federated", upstream: provider.id } });
          await t.audit.record({ event: "identity.linked", ...who(created, context), details: { upstream: provider.id, issuer: claims.issuer, proof: "sign_up" } });
          await t.audit.record({ event: "sign_in.succeeded", ...who(created, context), details: { method: "federated", upstream: provider.id } });
          await reportUser(t.webhooks, { type: "user.created", user: created });
          return created;
        });
        return { kind: "signed_in", userId: user.id, methods: methodsOf(provider, claims) };
      } catch (error) {
        // The address or the identity was taken meanwhile (another tab): start again.
        if (error instanceof ConflictError) return { kind: "refused", reason: "cannot_link" };
        throw error;
      }
    },

    /** Links after the person proved the local account's password; the methods to sign in with. */
    async confirmLink(provider: UpstreamProvider, claims: UpstreamClaims, user: User, context: RequestContext = {}): Promise<AuthenticationMethod[] | undefined> {
      try {
        await linkAndSignIn(provider, claims, user, "password", context);
      } catch (error) {
        if (error instanceof ConflictError) return undefined;
        throw error;
      }
      return methodsOf(provider, claims, ["pwd"]);
    },

    /** A user's linked identities, for the account page. */
    identitiesOf: (userId: string) => stores(db).upstreams.identitiesOf(userId),

    /**
     * Unlinks an identity, never the last way to sign in (no password and no other identity);
     * whether it was unlinked.
     */
    async unlink(userId: string, issuer: string, subject: string, context: RequestContext = {}): Promise<"unlinked" | "last" | "unknown"> {
      return db.transaction(async (tx) => {
        const t = stores(tx);
        const user = await t.users.findById(userId);
        if (!user) return "unknown";
        const identities = await t.upstreams.identitiesOf(userId);
        const identity = identities.find((linked) => linked.issuer === issuer && linked.subject === subject);
        if (!identity) return "unknown";
        if (!user.passwordHash && identities.length === 1) return "last";
        await t.upstreams.unlink(userId, issuer, subject);
        const mailed = await deps.notices.record(t, {
          user,
          change: "identity_unlinked",
          event: "identity.unlinked",
          actor: `user:${user.id}`,
          ip: context.ip,
          userAgent: context.userAgent,
          locale: context.locale,
          details: { upstream: identity.providerId, issuer },
        });
        return mailed ? "unlinked_mailed" : "unlinked";
      }).then((outcome) => {
        if (outcome === "unlinked_mailed") deps.onMailQueued?.();
        return outcome === "unlinked_mailed" ? "unlinked" : outcome;
      });
    },
  };
}

export type FederatedSignIn = ReturnType<typeof createFederatedSignIn>;
