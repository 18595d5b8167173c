// POST /logout (a form button; Lax cookies are not sent on another site's POST): forgets the session
// here, then RP-initiated logout at the IdP with the ID token as id_token_hint, which ends the IdP's
// session and its refresh tokens for this app without asking, and comes back to /.
import { NextResponse, type NextRequest } from "next/server";
import { endSessionUrl } from "../../lib/oidc";
import { cookieOptions, sessionCookieName, unsealSession } from "../../lib/sealed-cookies";

export async function POST(request: NextRequest) {
  const session = await unsealSession(request.cookies.get(sessionCookieName())?.value);
  const response = NextResponse.redirect(await endSessionUrl(session?.idToken), 303);
  response.cookies.set(sessionCookieName(), "", cookieOptions(0));
  return response;
}
