// RP-initiated logout without the "Sign out?" page when the request proves it comes from the
// signed-in application: OpenID Connect RP-Initiated Logout 1.0 asks for the End-User's confirmation
// of logout requests without a valid id_token_hint (Security Considerations). The session then ends
// through oidc-provider's own confirmation step, exactly as a click on "Sign out" ends it; otherwise
// the page stays.
/// <reference path="./oidc-provider-internals.d.ts" />
import { confirm as endSessionConfirmSteps } from "oidc-provider/lib/actions/end_session.js";
import type Provider from "oidc-provider";
import type { KoaContextWithOIDC } from "oidc-provider";

/**
 * The last step of oidc-provider's POST /session/end/confirm: revokes the grants of the session's
 * clients that are not offline_access, destroys the session, clears its cookie, emits
 * end_session.success and redirects to the post_logout_redirect_uri (with state) or the signed-out
 * page. The steps before it (session, body, params, xsrf check) have nothing to do here: end_session
 * has just loaded the session and stored the logout details in it.
 */
const endSession = endSessionConfirmSteps.at(-1);
if (typeof endSession !== "function" || endSession.name !== "endSession") {
  throw new Error("oidc-provider's end_session confirmation has changed shape: review idp/oidc/logout-without-prompt.ts before upgrading");
}

/**
 * Every ID token names the session it was issued in (the `sid` claim, as with front- and
 * back-channel logout), so a hint proves its session exactly; oidc-provider adds `sid` only for
 * clients registered for back-channel logout, which this IdP does not offer.
 */
export function nameSessionsInIdTokens(provider: Provider): void {
  (provider.Client.prototype as unknown as { includeSid(): boolean }).includeSid = () => true;
}

/** Set on the request's Koa state when the session was ended without the page (for the audit trail). */
export const ENDED_WITHOUT_PROMPT = "endedWithoutPrompt";

type HintPayload = { sub?: unknown; aud?: unknown; exp?: unknown; sid?: unknown };

/**
 * Whether the hint proves the current session and client. It must be a valid
 * ID token from this IdP for the client asking (signature, issuer, audience: end_session has checked
 * them, and they are checked again here), unexpired by the IdP's clock, for the account signed in,
 * and carry the sid of this session's sign-in to that client. A token without sid (issued before
 * nameSessionsInIdTokens) proves no session: the page stays.
 */
async function hintProvesSession(ctx: KoaContextWithOIDC, now: () => Date): Promise<boolean> {
  const { client, session, params, provider } = ctx.oidc;
  const hint = params?.id_token_hint;
  if (typeof hint !== "string" || !hint || !client || !session?.accountId) return false;
  let payload: HintPayload;
  try {
    payload = (await provider.IdToken.validate(hint, client)).payload as HintPayload;
  } catch {
    return false;
  }
  if (payload.aud !== client.clientId) return false;
  if (typeof payload.exp !== "number" || payload.exp * 1000 <= now().getTime()) return false;
  // Implied by the sid (a session has one account), and checked all the same.
  if (payload.sub !== session.accountId) return false;
  // Read, never authorizationFor(): that would add an empty authorization to the session.
  const authorizations = session.authorizations ?? {};
  const sid = Object.hasOwn(authorizations, client.clientId) ? authorizations[client.clientId]!.sid : undefined;
  return typeof payload.sid === "string" && payload.sid === sid;
}

/**
 * For rpInitiatedLogout.logoutSource: ends the session and answers with the provider's redirect when
 * the id_token_hint proves the current session and client (true); otherwise does nothing (false),
 * and the caller shows the confirmation page.
 */
export function createLogoutWithoutPrompt(now: () => Date) {
  return async function endSessionWithoutPrompt(ctx: KoaContextWithOIDC): Promise<boolean> {
    if (!(await hintProvesSession(ctx, now))) return false;
    // As the "Sign out" button posts it: logout=yes ends the whole session, not only this client's part.
    (ctx.oidc.params as Record<string, unknown>).logout = "yes";
    ctx.state[ENDED_WITHOUT_PROMPT] = true;
    await endSession!(ctx, async () => {});
    return true;
  };
}
