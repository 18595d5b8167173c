// The session as requests see it: unsealed from its cookie, and refreshed on the server when the
// ID token is near its expiry. Only the proxy (every page request) and /token (the browser's
// Convex client asking for a fresh token) refresh, because only they may write the cookie: a
// server component cannot set cookies.
import { refresh, RefreshRefused } from "./oidc";
import { sealSession, unsealSession, type Session } from "./sealed-cookies";
import { settings } from "./settings";

export type SessionOutcome =
  /** No session, or one that cannot be used any more: the cookie should go. */
  | { kind: "none"; clearCookie: boolean }
  /** The session in the cookie is good as it is. */
  | { kind: "current"; session: Session }
  /** A refresh gave a new ID token and refresh token: the cookie must be rewritten. */
  | { kind: "refreshed"; session: Session; sealed: string };

const nowSeconds = () => Math.floor(Date.now() / 1000);

// Requests arriving together with the same cookie share one refresh: the refresh token rotates,
// so a second use of it would be refused.
const inFlight = new Map<string, Promise<Session>>();

function refreshOnce(session: Session): Promise<Session> {
  const key = session.refreshToken ?? "";
  let pending = inFlight.get(key);
  if (!pending) {
    pending = refresh(session).finally(() => inFlight.delete(key));
    inFlight.set(key, pending);
  }
  return pending;
}

/** The session of a request, refreshed first when its ID token expires within SESSION_REFRESH_BEFORE (or when forced). */
export async function currentSession(cookie: string | undefined, { force = false } = {}): Promise<SessionOutcome> {
  const session = await unsealSession(cookie);
  if (!session) return { kind: "none", clearCookie: cookie !== undefined };
  const stillValid = session.expiresAt > nowSeconds();
  if (!force && session.expiresAt - nowSeconds() > settings().refreshBeforeSeconds) return { kind: "current", session };
  try {
    const next = await refreshOnce(session);
    return { kind: "refreshed", session: next, sealed: await sealSession(next) };
  } catch (error) {
    // Another server process may have rotated this refresh token a moment ago (its answer sets the
    // new cookie); the ID token in hand still serves until it expires. Otherwise the session is over.
    if (error instanceof RefreshRefused) {
      return stillValid ? { kind: "current", session } : { kind: "none", clearCookie: true };
    }
    // The IdP is unreachable: keep the cookie for a later try, and use the ID token while it lasts.
    return stillValid ? { kind: "current", session } : { kind: "none", clearCookie: false };
  }
}

/** For server components: the session the proxy left in the request, or none. Never refreshes. */
export async function readSession(cookie: string | undefined): Promise<Session | undefined> {
  const session = await unsealSession(cookie);
  return session && session.expiresAt > nowSeconds() ? session : undefined;
}
