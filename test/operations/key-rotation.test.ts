// Staged key rotation under a continuous stream of tokens, checked by a verifier that behaves as
// the Convex backend does: it caches the JWKS exactly as long as Cache-Control allows and never
// refetches on an unknown kid. Time is the IdP's injected clock, moved in steps.
import { afterEach, describe, expect, it } from "vitest";
import * as oidc from "openid-client";
import { decodeProtectedHeader, importJWK, jwtVerify, type JWK } from "jose";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { discover } from "../support/oidc-flow.ts";
import { rotateSigningKey } from "../../idp/keys/rotation.ts";

/** Caches the JWKS for max-age seconds of the given clock; an unknown kid is a failure, not a refetch. */
function cachingVerifier(jwksUrl: string, clock: () => number) {
  let cache: { keys: JWK[]; expiresAt: number } | undefined;
  let fetches = 0;
  return {
    get fetches() {
      return fetches;
    },
    async verify(token: string): Promise<string | undefined> {
      if (!cache || clock() >= cache.expiresAt) {
        const response = await fetch(jwksUrl);
        const maxAge = Number(/max-age=(\d+)/.exec(response.headers.get("cache-control") ?? "")?.[1] ?? 0);
        cache = { keys: ((await response.json()) as { keys: JWK[] }).keys, expiresAt: clock() + maxAge * 1000 };
        fetches++;
      }
      const { kid } = decodeProtectedHeader(token);
      const jwk = cache.keys.find((key) => key.kid === kid);
      if (!jwk) return `unknown kid ${kid}`;
      await jwtVerify(token, await importJWK(jwk, "RS256"));
      return undefined;
    },
  };
}

let idp: TestIdp | undefined;
afterEach(async () => {
  await idp?.close();
  idp = undefined;
});

async function runRotation({ immediate }: { immediate: boolean }) {
  let clock = Date.now();
  idp = await startTestIdp({ now: () => new Date(clock), env: { KEYS_RELOAD_INTERVAL: "0", SERVICE_TOKEN_TTL: "300" } });
  const { secret } = await idp.admin.addClient({ id: "worker", service: true, public: false, firstParty: false, redirectUris: [] });
  const worker = await discover(idp.issuer, "worker", secret);
  const verifier = cachingVerifier(`${idp.issuer}/jwks`, () => clock);
  const { idTokenTtlSeconds, serviceTokenTtlSeconds, jwksMaxAgeSeconds, keyRotationMarginSeconds } = idp.config;

  const failures: string[] = [];
  const kidsSeen: string[] = [];
  let rotatedAt: number | undefined;
  const stepMs = 30_000;
  const rotateAt = clock + 60_000;
  // Long enough for the new key to sign and the old one to retire.
  const end = rotateAt + (jwksMaxAgeSeconds + keyRotationMarginSeconds + Math.max(idTokenTtlSeconds, serviceTokenTtlSeconds) + 2 * keyRotationMarginSeconds) * 1000;
  for (; clock < end; clock += stepMs) {
    if (!rotatedAt && clock >= rotateAt) {
      await rotateSigningKey(idp.config, { now: new Date(clock), immediate });
      rotatedAt = clock;
    }
    await idp.app.keyRing.refresh();
    const { access_token: token } = await oidc.clientCredentialsGrant(worker);
    const kid = decodeProtectedHeader(token).kid!;
    if (kidsSeen.at(-1) !== kid) kidsSeen.push(kid);
    const failure = await verifier.verify(token);
    if (failure) failures.push(`${(clock - rotateAt) / 1000} s after rotating: ${failure}`);
  }
  const finalJwks = (await (await fetch(`${idp.issuer}/jwks`)).json()) as { keys: JWK[] };
  return { failures, kidsSeen, verifierFetches: verifier.fetches, finalKids: finalJwks.keys.map((key) => key.kid) };
}

describe("key rotation seen by a Convex-like verifier", () => {
  it("staged: zero tokens fail across a whole rotation, and the old key retires", async () => {
    const result = await runRotation({ immediate: false });
    expect(result.failures).toEqual([]);
    expect(result.kidsSeen).toHaveLength(2); // the old key signed, then the new one
    expect(result.finalKids).toEqual([result.kidsSeen[1]]); // the old key is no longer published
    expect(result.verifierFetches).toBeGreaterThan(5); // the cache really expired and refetched along the way
  });

  it("immediate: tokens fail until the verifier's cache expires (why staging exists)", async () => {
    const result = await runRotation({ immediate: true });
    expect(result.failures.length).toBeGreaterThan(0);
    expect(result.failures[0]).toMatch(/unknown kid/);
  });
});
