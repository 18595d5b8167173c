// Who calls the admin API: a service token (the client_credentials grant, oidc/service-tokens.ts)
// verified here as Convex verifies it (RS256, a published kid, iss, aud, typ at+jwt, token_use
// service), from a service client that still exists. What it may do is the intersection of the
// token's scopes and the client's current ones, so removing a scope or a client takes effect at once.
import { createLocalJWKSet, jwtVerify, type JWK } from "jose";
import type { KeyRing } from "../keys/key-ring.ts";
import type { KeySchedule } from "../keys/key-schedule.ts";
import type { ClientStore } from "../store/clients.ts";
import { IdpError } from "../errors.ts";

export type ServiceCaller = { clientId: string; scopes: Set<string> };

const PRIVATE_MEMBERS = new Set(["d", "p", "q", "dp", "dq", "qi", "oth"]);
const publicJwk = (jwk: JWK): JWK => Object.fromEntries(Object.entries(jwk).filter(([name]) => !PRIVATE_MEMBERS.has(name))) as JWK;

/** 401 with the challenge RFC 6750 asks for; the description says what was wrong, never the token. */
export function invalidToken(description: string): IdpError {
  return new IdpError({
    status: 401,
    code: "invalid_token",
    title: "error.invalidRequest.title",
    message: { id: "error.invalidRequest.message" },
    description,
    headers: { "www-authenticate": `Bearer error="invalid_token", error_description="${description.replace(/["\\]/g, "")}"` },
  });
}

/** 403 naming the scope the route needs, in the body and in WWW-Authenticate (RFC 6750 §3.1). */
export function insufficientScope(scope: string): IdpError {
  return new IdpError({
    status: 403,
    code: "insufficient_scope",
    title: "error.invalidRequest.title",
    message: { id: "error.invalidRequest.message" },
    description: `this request needs the scope ${scope}`,
    headers: { "www-authenticate": `Bearer error="insufficient_scope", scope="${scope}"` },
  });
}

export function createServiceAuth(deps: { keyRing: KeyRing; clients: Pick<ClientStore, "find">; issuer: string; audience: string; now: () => Date }) {
  let cached: { schedule: KeySchedule; jwks: ReturnType<typeof createLocalJWKSet> } | undefined;
  const jwks = () => {
    const schedule = deps.keyRing.current();
    if (cached?.schedule !== schedule) cached = { schedule, jwks: createLocalJWKSet({ keys: schedule.published.map((key) => publicJwk(key.jwk)) }) };
    return cached.jwks;
  };

  return {
    /** The caller of a request with this Authorization header, or the 401 to answer. */
    async authenticate(authorization: string | undefined): Promise<ServiceCaller> {
      const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(authorization ?? "");
      if (!match) throw invalidToken("a service token is required (Authorization: Bearer)");
      let payload;
      try {
        ({ payload } = await jwtVerify(match[1]!, jwks(), {
          issuer: deps.issuer,
          audience: deps.audience,
          typ: "at+jwt",
          algorithms: ["RS256"],
          currentDate: deps.now(),
          clockTolerance: 5,
        }));
      } catch {
        throw invalidToken("the token is invalid or expired");
      }
      if (payload.token_use !== "service" || typeof payload.client_id !== "string") throw invalidToken("not a service token");
      const client = await deps.clients.find(payload.client_id);
      if (!client?.service) throw invalidToken("the token's client no longer exists");
      const granted = typeof payload.scope === "string" ? payload.scope.split(" ") : [];
      return { clientId: client.id, scopes: new Set(granted.filter((scope) => client.scopes.includes(scope))) };
    },
  };
}

export type ServiceAuth = ReturnType<typeof createServiceAuth>;
