// GET /callback: the IdP sends the browser back here with a code (or an error). The code is
// exchanged on the server, with the client secret and the PKCE verifier; the tokens go into the
// sealed session cookie and never reach the page's script, except the ID token handed to Convex.
import { NextResponse, type NextRequest } from "next/server";
import { exchangeCode } from "../../lib/oidc";
import {
  cookieOptions,
  pendingCookieName,
  sealSession,
  sessionCookieName,
  SESSION_MAX_AGE_SECONDS,
  unsealPendingSignIn,
} from "../../lib/sealed-cookies";
import { settings } from "../../lib/settings";

export async function GET(request: NextRequest) {
  const home = new URL("/", settings().appUrl);
  const pending = await unsealPendingSignIn(request.cookies.get(pendingCookieName())?.value);
  let sealed: string | undefined;
  if (pending) {
    try {
      sealed = await sealSession(await exchangeCode(request.nextUrl.search, pending));
    } catch (error) {
      // A cancelled sign-in, a replayed or foreign code, a wrong state: signed out, and told so.
      console.warn("sign-in failed:", error instanceof Error ? error.message : String(error));
    }
  }
  if (!sealed) home.searchParams.set("error", "sign-in-failed");
  const response = NextResponse.redirect(home, 303);
  response.cookies.set(pendingCookieName(), "", cookieOptions(0)); // one use, whatever happened
  if (sealed) response.cookies.set(sessionCookieName(), sealed, cookieOptions(SESSION_MAX_AGE_SECONDS));
  return response;
}
