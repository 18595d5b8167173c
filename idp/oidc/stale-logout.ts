// Recognises a sign-out confirmation that lost a race: its page was shown, then the session ended in
// another tab (or a newer sign-out page replaced the page's anti-CSRF secret) before the form was
// posted. oidc-provider refuses it as invalid_request; the person should see where they stand instead.
import { errors, type KoaContextWithOIDC } from "oidc-provider";

/**
 * "signed_out": the confirmation's check failed and no one is signed in (the session ended meanwhile);
 * "superseded": it failed while the session is still signed in (another sign-out page is newer);
 * undefined: any other error, which keeps its own page.
 */
export function staleLogoutConfirmation(ctx: KoaContextWithOIDC, error: unknown): "signed_out" | "superseded" | undefined {
  const oidc = ctx.oidc as KoaContextWithOIDC["oidc"] | undefined;
  if (oidc?.route !== "end_session_confirm") return undefined;
  if (!(error instanceof errors.InvalidRequest) || error instanceof errors.SessionNotFound) return undefined;
  // The refusal must be the xsrf check's (the last before the sign-out): the parameters were read,
  // once each, and the session holds no logout details or a different secret.
  const xsrf = (oidc.params as Record<string, unknown> | undefined)?.xsrf;
  if (xsrf !== undefined && typeof xsrf !== "string") return undefined;
  if (!oidc.params) return undefined;
  const secret = (oidc.session?.state as { secret?: unknown } | undefined)?.secret;
  if (typeof secret === "string" && secret === xsrf) return undefined;
  return oidc.session?.accountId ? "superseded" : "signed_out";
}
