// The two cookies this app keeps, each an encrypted JWT (jose's EncryptJWT: dir + A256GCM with
// SESSION_SECRET), so the browser holds them but can neither read nor alter them:
// - the session: the ID token, the refresh token and the ID token's expiry;
// - the pending sign-in: PKCE verifier, state and nonce, between /login and /callback.
// Each is sealed for its own audience, so one can never be passed off as the other.
import { EncryptJWT, jwtDecrypt } from "jose";
import { settings } from "./settings";

export type Session = {
  idToken: string;
  refreshToken: string | undefined;
  /** The ID token's exp, seconds since the epoch. */
  expiresAt: number;
};

export type PendingSignIn = { verifier: string; state: string; nonce: string };

/** The refresh token outlives the ID token by far: the cookie lasts as long as the IdP's default REFRESH_TOKEN_TTL. */
export const SESSION_MAX_AGE_SECONDS = 14 * 24 * 3600;
export const PENDING_MAX_AGE_SECONDS = 10 * 60;

export type CookieOptions = {
  httpOnly: true;
  secure: boolean;
  sameSite: "lax";
  path: string;
  maxAge: number;
};

/** __Host- over https: the browser then insists on Secure, Path=/ and no Domain. */
export function sessionCookieName(): string {
  return secure() ? "__Host-session" : "session";
}

export function pendingCookieName(): string {
  return secure() ? "__Host-signin" : "signin";
}

// Lax: sent on the top-level GET back from the IdP to /callback, never on a cross-site POST.
export function cookieOptions(maxAge: number): CookieOptions {
  return { httpOnly: true, secure: secure(), sameSite: "lax", path: "/", maxAge };
}

function secure(): boolean {
  return settings().appUrl.protocol === "https:";
}

export function sealSession(session: Session): Promise<string> {
  return seal({ ...session }, "session", SESSION_MAX_AGE_SECONDS);
}

export async function unsealSession(value: string | undefined): Promise<Session | undefined> {
  const claims = await unseal(value, "session");
  if (!claims || typeof claims.idToken !== "string" || typeof claims.expiresAt !== "number") return undefined;
  const refreshToken = typeof claims.refreshToken === "string" ? claims.refreshToken : undefined;
  return { idToken: claims.idToken, refreshToken, expiresAt: claims.expiresAt };
}

export function sealPendingSignIn(pending: PendingSignIn): Promise<string> {
  return seal({ ...pending }, "pending-sign-in", PENDING_MAX_AGE_SECONDS);
}

export async function unsealPendingSignIn(value: string | undefined): Promise<PendingSignIn | undefined> {
  const claims = await unseal(value, "pending-sign-in");
  if (!claims) return undefined;
  const { verifier, state, nonce } = claims;
  if (typeof verifier !== "string" || typeof state !== "string" || typeof nonce !== "string") return undefined;
  return { verifier, state, nonce };
}

async function seal(claims: Record<string, unknown>, audience: string, maxAge: number): Promise<string> {
  return await new EncryptJWT(claims)
    .setProtectedHeader({ alg: "dir", enc: "A256GCM" })
    .setAudience(audience)
    .setIssuedAt()
    .setExpirationTime(`${maxAge}s`)
    .encrypt(settings().sessionKey);
}

/** Undefined for a missing, altered, expired, foreign or old-key cookie: all mean "not signed in". */
async function unseal(value: string | undefined, audience: string): Promise<Record<string, unknown> | undefined> {
  if (!value) return undefined;
  try {
    const { payload } = await jwtDecrypt(value, settings().sessionKey, {
      audience,
      keyManagementAlgorithms: ["dir"],
      contentEncryptionAlgorithms: ["A256GCM"],
    });
    return payload;
  } catch {
    return undefined;
  }
}
