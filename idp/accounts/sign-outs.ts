// What the account page shows of a person's sign-ins, and signing out from it, without HTTP: their
// IdP sessions (browsers) and the applications they granted, signing out of one session, of every
// session (sessions, grants, and every refresh and access token revoked), or of one application.
// Each sign-out is one transaction with its audit event and the session.revoked webhook.
import type { Database, Queryable } from "../db/database.ts";
import type { AuditStore } from "../store/audit.ts";
import type { OidcPayloadStore } from "../store/oidc-payloads.ts";
import type { WebhookStore } from "../store/webhooks.ts";
import { reportUser } from "../webhooks/events.ts";

export type SignOutStores = {
  payloads: Pick<OidcPayloadStore, "listByAccountId" | "revokeSessions" | "revokeByAccountId" | "revokeGrant">;
  audit: Pick<AuditStore, "record">;
  webhooks: Pick<WebhookStore, "enqueue">;
};

/** A browser signed in to the IdP: when, and which applications it signed in to. */
export type ActiveSession = { uid: string; signedInAt: Date; clientIds: string[] };
/** An application the person signed in to (a grant), and since when. */
export type SignedInApp = { grantId: string; clientId: string; grantedAt: Date };

/** Who acts, for the audit trail. */
export type RequestContext = { ip: string; userAgent?: string };

const seconds = (value: unknown) => (typeof value === "number" ? new Date(value * 1000) : new Date(0));

export function createSignOuts(deps: { db: Database; stores: (queryable: Queryable) => SignOutStores; hiddenClientIds: string[] }) {
  const { db } = deps;
  const pool = deps.stores(db);
  const hidden = new Set(deps.hiddenClientIds);

  async function signedOut(accountId: string, context: RequestContext, write: (stores: SignOutStores) => Promise<{ revoked: number; details: Record<string, string | number | boolean | null> } | undefined>, clientId: string | null = null) {
    return db.transaction(async (tx) => {
      const stores = deps.stores(tx);
      const outcome = await write(stores);
      if (!outcome) return false;
      await stores.audit.record({
        event: clientId ? "grant.revoked" : "sign_out.succeeded",
        actor: `user:${accountId}`,
        userId: accountId,
        clientId,
        ip: context.ip,
        userAgent: context.userAgent ?? null,
        details: { from: "account_page", revoked: outcome.revoked, ...outcome.details },
      });
      await reportUser(stores.webhooks, { type: "session.revoked", userId: accountId, details: { reason: "account_page", ...outcome.details } });
      return true;
    });
  }

  return {
    /** The person's sessions, newest first. */
    async sessions(accountId: string): Promise<ActiveSession[]> {
      const rows = await pool.payloads.listByAccountId("Session", accountId);
      return rows
        .filter((row) => typeof row.uid === "string")
        .map((row) => ({
          uid: row.uid!,
          signedInAt: seconds(row.loginTs),
          clientIds: Object.keys((row.authorizations as Record<string, unknown> | undefined) ?? {}).filter((id) => !hidden.has(id)),
        }));
    },

    /** The applications the person is signed in to (the IdP's own pages left out), newest first. */
    async apps(accountId: string): Promise<SignedInApp[]> {
      const rows = await pool.payloads.listByAccountId("Grant", accountId);
      return rows
        .filter((row) => typeof row.jti === "string" && typeof row.clientId === "string" && !hidden.has(row.clientId))
        .map((row) => ({ grantId: row.jti as string, clientId: row.clientId as string, grantedAt: seconds(row.iat) }));
    },

    /** Signs out of one session of the person's (false: no such session of theirs). */
    signOutSession(accountId: string, uid: string, context: RequestContext): Promise<boolean> {
      return signedOut(accountId, context, async (stores) => {
        const revoked = await stores.payloads.revokeSessions(accountId, { uid });
        return revoked > 0 ? { revoked, details: { scope: "session" } } : undefined;
      });
    },

    /** Signs out of every session: every session, grant, refresh and access token goes. */
    signOutEverywhere(accountId: string, context: RequestContext): Promise<boolean> {
      return signedOut(accountId, context, async (stores) => ({ revoked: await stores.payloads.revokeByAccountId(accountId), details: { scope: "everywhere" } }));
    },

    /** Signs out of one application: its grant and every token under it (false: no such grant of theirs). */
    revokeApp(accountId: string, grantId: string, clientId: string, context: RequestContext): Promise<boolean> {
      return signedOut(
        accountId,
        context,
        async (stores) => ((await stores.payloads.revokeGrant(accountId, grantId)) ? { revoked: 1, details: { scope: "application" } } : undefined),
        clientId,
      );
    },
  };
}

export type SignOuts = ReturnType<typeof createSignOuts>;
