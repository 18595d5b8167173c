// POST /token: a new ID token for the browser's Convex client, when it asks for one
// (fetchAccessToken({ forceRefreshToken: true }), shortly before the one it has expires). The
// refresh happens here, on the server; the refresh token never leaves the sealed cookie.
import { NextResponse, type NextRequest } from "next/server";
import { cookieOptions, sessionCookieName, SESSION_MAX_AGE_SECONDS } from "../../lib/sealed-cookies";
import { currentSession } from "../../lib/session";

export async function POST(request: NextRequest) {
  const name = sessionCookieName();
  const outcome = await currentSession(request.cookies.get(name)?.value, { force: true });
  if (outcome.kind === "refreshed") {
    const response = NextResponse.json({ idToken: outcome.session.idToken });
    response.cookies.set(name, outcome.sealed, cookieOptions(SESSION_MAX_AGE_SECONDS));
    return response;
  }
  // Convex needs a new token on a forced refresh; the same one back would sign the client out anyway.
  // (The IdP was unreachable, or another request rotated this refresh token a moment ago.)
  if (outcome.kind === "current") return NextResponse.json({ error: "no new token now; try again" }, { status: 503 });
  const response = NextResponse.json({ idToken: null }, { status: 401 });
  if (outcome.clearCookie) response.cookies.set(name, "", cookieOptions(0));
  return response;
}
