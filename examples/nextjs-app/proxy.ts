// Runs before every page request (Next.js 16's proxy, formerly middleware, on the Node.js runtime):
// refreshes a session whose ID token is near expiry and writes the new cookie, both on the
// response (for the browser) and on the request (so the page rendered now already sees it). Server
// components cannot set cookies, so this is where the refresh happens.
import { NextResponse, type NextRequest } from "next/server";
import { cookieOptions, sessionCookieName, SESSION_MAX_AGE_SECONDS } from "./lib/sealed-cookies";
import { currentSession } from "./lib/session";

export async function proxy(request: NextRequest) {
  const name = sessionCookieName();
  const outcome = await currentSession(request.cookies.get(name)?.value);
  if (outcome.kind === "refreshed") {
    request.cookies.set(name, outcome.sealed);
    const response = NextResponse.next({ request: { headers: request.headers } });
    response.cookies.set(name, outcome.sealed, cookieOptions(SESSION_MAX_AGE_SECONDS));
    return response;
  }
  if (outcome.kind === "none" && outcome.clearCookie) {
    request.cookies.delete(name);
    const response = NextResponse.next({ request: { headers: request.headers } });
    response.cookies.set(name, "", cookieOptions(0));
    return response;
  }
  return NextResponse.next();
}

export const config = {
  // Pages only: not the sign-in routes, /token (which refreshes itself), or static files.
  matcher: ["/((?!_next/static|_next/image|favicon.ico|login|callback|logout|token).*)"],
};
