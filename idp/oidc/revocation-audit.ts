// Records oidc-provider's revocations in the audit trail: tokens revoked at the revocation endpoint,
// and grants revoked by it, by the reuse of a rotated refresh token or a used code, or by logout.
// Only ids (client, user), the token type, IP and user agent are recorded: never a token, code or cookie.
import Provider, { type KoaContextWithOIDC } from "oidc-provider";
import type { RecordInRequest } from "./audit-in-request.ts";

type TokenLike = { kind: string; clientId?: string; accountId?: string };

/** The token models the revocation endpoint can destroy, and their names in the audit trail. */
const TOKEN_EVENTS = {
  "access_token.destroyed": "access_token",
  "refresh_token.destroyed": "refresh_token",
  "client_credentials.destroyed": "client_credentials",
} as const;

/** The Koa context of the request being handled (oidc-provider keeps it in AsyncLocalStorage). */
const currentContext = () => (Provider as unknown as { ctx?: KoaContextWithOIDC }).ctx;

export function recordRevocations(provider: Provider, record: RecordInRequest): void {

  for (const [eventName, tokenType] of Object.entries(TOKEN_EVENTS)) {
    // One listener shape for the three token models (the typings know only their own names).
    provider.on(eventName as "refresh_token.destroyed", (destroyed) => {
      const token = destroyed as unknown as TokenLike;
      const ctx = currentContext();
      // Tokens are also destroyed when a reused refresh token revokes its grant: that is grant.revoked.
      if (ctx?.oidc?.route !== "revocation") return;
      const actingClient = ctx.oidc.client?.clientId ?? token.clientId;
      record(ctx, {
        event: "token.revoked",
        actor: actingClient ? `client:${actingClient}` : "anonymous",
        userId: token.accountId ?? null,
        clientId: token.clientId ?? null,
        ip: ctx.ip,
        userAgent: ctx.get("user-agent") || null,
        details: { token_type: tokenType },
      });
    });
  }

  provider.on("grant.revoked", (ctx: KoaContextWithOIDC, grantId: string) => {
    const { route, client, session, entities, params } = ctx.oidc;
    const refreshToken = entities.RefreshToken as TokenLike | undefined;
    let reason: string;
    let accountId: string | undefined;
    let clientId = client?.clientId;
    if (route === "end_session" || route === "end_session_confirm") {
      reason = "logout";
      accountId = session?.accountId;
      // Logout may revoke the grants of every client in the session: name the grant's own client.
      const authorizations = (session?.authorizations ?? {}) as Record<string, { grantId?: string }>;
      clientId = Object.entries(authorizations).find(([, authorization]) => authorization.grantId === grantId)?.[0] ?? clientId;
    } else if (route === "revocation") {
      reason = "token_revoked";
      accountId = (entities.RefreshToken as TokenLike | undefined)?.accountId ?? (entities.AccessToken as TokenLike | undefined)?.accountId;
    } else if (route === "token" && params?.grant_type === "refresh_token") {
      // The provider revokes a grant at the token endpoint only when a consumed refresh token comes back.
      reason = "refresh_token_reuse";
      accountId = refreshToken?.accountId;
    } else if (route === "token" && params?.grant_type === "authorization_code") {
      reason = "authorization_code_reuse";
    } else {
      reason = String(route ?? "unknown");
    }
    record(ctx, {
      event: "grant.revoked",
      actor: reason === "logout" && accountId ? `user:${accountId}` : client ? `client:${client.clientId}` : "anonymous",
      userId: accountId ?? null,
      clientId: clientId ?? null,
      ip: ctx.ip,
      userAgent: ctx.get("user-agent") || null,
      details: { reason },
    });
  });
}
