// GET /login: to the IdP's sign-in page, with PKCE; the verifier, state and nonce wait in a sealed
// cookie for /callback.
import { NextResponse } from "next/server";
import { authorizationUrl } from "../../lib/oidc";
import { cookieOptions, pendingCookieName, PENDING_MAX_AGE_SECONDS, sealPendingSignIn } from "../../lib/sealed-cookies";

export async function GET() {
  const { url, pending } = await authorizationUrl();
  const response = NextResponse.redirect(url, 303);
  response.cookies.set(pendingCookieName(), await sealPendingSignIn(pending), cookieOptions(PENDING_MAX_AGE_SECONDS));
  return response;
}
