// What `ctx.auth.getUserIdentity()` returns for our tokens under the customJwt form of
// auth.config.ts, built from a decoded JWT payload the way the Convex backend does it
// (UserIdentity::from_custom_jwt in get-convex/convex-backend, crates/keybroker):
// - iss and sub become `issuer` and `subject`, and `tokenIdentifier` is `${iss}|${sub}`;
// - the other registered claims (aud, exp, iat, nbf, jti) are not passed to functions, nor is
//   Clerk's `fva`;
// - every other claim keeps its raw name (`email_verified`, not `emailVerified`), and nested
//   objects are flattened to dotted keys: `{ org: { id: "o1" } }` becomes `"org.id": "o1"`.
// Two dots in the file name: Convex's bundler skips it, so it is never pushed to a deployment.
import type { UserIdentity } from "convex/server";
import type { JSONValue } from "convex/values";

export type JwtPayload = { [claim: string]: JSONValue };

const NOT_PASSED = new Set(["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "fva"]);

export function identityFromJwtPayload(payload: JwtPayload): UserIdentity {
  const { iss, sub, exp } = payload;
  // The backend rejects a customJwt token without these.
  if (typeof iss !== "string" || typeof sub !== "string" || typeof exp !== "number") {
    throw new Error("A token needs iss, sub and exp");
  }
  const claims: { [key: string]: JSONValue } = {};
  const flatten = (object: JwtPayload, prefix: string) => {
    for (const [key, value] of Object.entries(object)) {
      if (prefix === "" && NOT_PASSED.has(key)) continue;
      if (value !== null && typeof value === "object" && !Array.isArray(value)) flatten(value, `${prefix}${key}.`);
      else claims[prefix + key] = value;
    }
  };
  flatten(payload, "");
  return { ...claims, issuer: iss, subject: sub, tokenIdentifier: `${iss}|${sub}` };
}

// Token payloads as our IdP issues them.
export const ISSUER = "https://auth.example.com/oidc";
export const CLIENT_ID = "web-app";
export const SERVICE_AUDIENCE = "convex-services";
const IAT = 1795000000;

/** A user's ID token (audience: the web client). */
export function userTokenPayload(sub = "u_8QmZk2", claims: JwtPayload = {}): JwtPayload {
  return {
    iss: ISSUER,
    sub,
    aud: CLIENT_ID,
    iat: IAT,
    exp: IAT + 3600,
    auth_time: IAT - 30,
    jti: `jti-${sub}`,
    email: "alice@example.com",
    email_verified: true,
    name: "Alice Example",
    picture: "https://example.com/alice.png",
    updated_at: 1795000000,
    ...claims,
  };
}

/** A service token from client_credentials (audience: the service audience). */
export function serviceTokenPayload(clientId = "inference-worker"): JwtPayload {
  return {
    iss: ISSUER,
    sub: clientId,
    aud: SERVICE_AUDIENCE,
    iat: IAT,
    exp: IAT + 300,
    jti: `jti-${clientId}`,
    client_id: clientId,
    scope: "",
    token_use: "service",
  };
}

export const userIdentity = (sub?: string, claims?: JwtPayload) => identityFromJwtPayload(userTokenPayload(sub, claims));
export const serviceIdentity = (clientId?: string) => identityFromJwtPayload(serviceTokenPayload(clientId));
