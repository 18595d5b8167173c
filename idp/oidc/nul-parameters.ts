// Refuses OIDC requests whose query string carries a NUL character, before the provider reads it:
// no OAuth parameter may contain one (RFC 6749 appendix A), and PostgreSQL cannot store one, so a
// NUL that reached a saved session (end_session's `state`) would fail as a server error after the
// provider's own error handling has run. Ids and bodies are covered by the adapter (adapter.ts).
import type Provider from "oidc-provider";
import type { KoaContextWithOIDC } from "oidc-provider";
import { idpErrors } from "../errors.ts";

export function refuseNulParameters(provider: Provider): void {
  provider.use(async (ctx: KoaContextWithOIDC, next) => {
    if (!/%00/i.test(ctx.querystring)) return next();
    throw idpErrors.invalidRequest("The request contains a NUL character, which no parameter may contain.");
  });
}
