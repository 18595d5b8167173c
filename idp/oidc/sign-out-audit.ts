// Records sign-outs in the audit trail, as sign-ins are: whenever oidc-provider ends a signed-in
// session at /session/end, whether the person confirmed on the "Sign out?" page or the application's
// id_token_hint made the page unnecessary (logout-without-prompt.ts). Only ids, IP and user agent.
import type Provider from "oidc-provider";
import type { KoaContextWithOIDC } from "oidc-provider";
import type { RecordInRequest } from "./audit-in-request.ts";
import { ENDED_WITHOUT_PROMPT } from "./logout-without-prompt.ts";

export function recordSignOuts(provider: Provider, record: RecordInRequest): void {

  provider.on("end_session.success", (ctx: KoaContextWithOIDC) => {
    const { session, client, params } = ctx.oidc;
    // "Stay signed in" also ends here, having only forgotten the client: the session goes on.
    const accountId = session?.accountId;
    if (!(params as Record<string, unknown> | undefined)?.logout || !accountId) return;
    record(ctx, {
      event: "sign_out.succeeded",
      actor: `user:${accountId}`,
      userId: accountId,
      clientId: client?.clientId ?? null,
      ip: ctx.ip,
      userAgent: ctx.get("user-agent") || null,
      details: { confirmation: ctx.state[ENDED_WITHOUT_PROMPT] ? "id_token_hint" : "form" },
    });
  });
}
