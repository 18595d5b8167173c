// Proves that test/support/convex-verifier.ts is as strict as the Convex backend: it accepts
// well-formed tokens in both auth.config.ts forms and rejects each kind of bad one.
import { beforeAll, describe, expect, it } from "vitest";
import { SignJWT, exportJWK, generateKeyPair, importJWK } from "jose";
import type { JWK, JWTHeaderParameters, JWTPayload } from "jose";
import { ConvexAuthError, verifyConvexToken } from "./support/convex-verifier.ts";
import type { CustomJwtProvider, OidcProvider } from "./support/convex-verifier.ts";

const ISSUER = "https://idp.example.test";
const APP = "convex-app";
const JWKS_URL = `${ISSUER}/jwks`;
const DISCOVERY_URL = `${ISSUER}/.well-known/openid-configuration`;
// customJwt may fetch its JWKS from an internal address while iss stays public.
const INTERNAL_JWKS_URL = "http://idp:8080/jwks";
const NOW_MS = Date.UTC(2030, 0, 1, 12, 0, 0);
const NOW = NOW_MS / 1000;

const customJwt: CustomJwtProvider = {
  type: "customJwt",
  issuer: ISSUER,
  jwks: INTERNAL_JWKS_URL,
  algorithm: "RS256",
  applicationID: APP,
};
const oidc: OidcProvider = { domain: ISSUER, applicationID: APP };

let privateKey: CryptoKey;
let publicJwk: JWK;
let privateJwk: JWK;

beforeAll(async () => {
  const pair = await generateKeyPair("RS256", { extractable: true });
  privateKey = pair.privateKey;
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "RS256", use: "sig" };
  privateJwk = await exportJWK(pair.privateKey);
});

type Route = { body: unknown; type?: string; status?: number };

// A fetch that serves fixed documents by exact URL, and records what was asked for.
function fakeFetch(routes: Record<string, Route>, calls: string[] = []): typeof fetch {
  return (async (input: string | URL | Request) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    calls.push(url);
    const route = routes[url];
    if (!route) return new Response("not found", { status: 404 });
    const body = typeof route.body === "string" ? route.body : JSON.stringify(route.body);
    return new Response(body, {
      status: route.status ?? 200,
      headers: { "content-type": route.type ?? "application/json" },
    });
  }) as typeof fetch;
}

function discoveryDoc(issuer = ISSUER): Record<string, unknown> {
  return {
    issuer,
    authorization_endpoint: `${ISSUER}/auth`,
    jwks_uri: JWKS_URL,
    response_types_supported: ["code"],
    subject_types_supported: ["public"],
    id_token_signing_alg_values_supported: ["RS256"],
  };
}

// Everything both forms need, overridable per test.
function idp(over: { keys?: JWK[]; jwksType?: string; discovery?: Record<string, unknown> } = {}, calls?: string[]) {
  const jwks: Route = { body: { keys: over.keys ?? [publicJwk] }, type: over.jwksType ?? "application/json" };
  return fakeFetch(
    { [INTERNAL_JWKS_URL]: jwks, [JWKS_URL]: jwks, [DISCOVERY_URL]: { body: over.discovery ?? discoveryDoc() } },
    calls,
  );
}

function claims(over: JWTPayload = {}): JWTPayload {
  return { iss: ISSUER, sub: "user-1", aud: APP, iat: NOW - 10, exp: NOW + 600, ...over };
}

async function sign(payload: JWTPayload = claims(), header: Partial<JWTHeaderParameters> = {}, key: CryptoKey | Uint8Array = privateKey) {
  return new SignJWT(payload).setProtectedHeader({ alg: "RS256", typ: "JWT", kid: "k1", ...header }).sign(key);
}

function verify(token: string, provider: CustomJwtProvider | OidcProvider, fetchFn = idp()) {
  return verifyConvexToken(token, [provider], { fetch: fetchFn, now: () => NOW_MS });
}

async function rejects(p: Promise<unknown>, code: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected rejection with ${code}`).toBeInstanceOf(ConvexAuthError);
  expect((err as ConvexAuthError).code, (err as Error).message).toBe(code);
}

const b64url = (s: string) => Buffer.from(s).toString("base64url");

describe("accepts well-formed tokens", () => {
  it("customJwt: raw claim names, dotted nested claims, tokenIdentifier from the raw iss", async () => {
    const token = await sign(
      claims({ email: "a@example.test", email_verified: true, picture: "https://p", org: { id: 1, roles: { admin: true } }, tags: ["x"] }),
    );
    const identity = await verify(token, customJwt);
    expect(identity).toEqual({
      tokenIdentifier: `${ISSUER}|user-1`,
      subject: "user-1",
      issuer: ISSUER,
      email: "a@example.test",
      email_verified: true,
      picture: "https://p",
      "org.id": 1,
      "org.roles.admin": true,
      tags: ["x"],
    });
  });

  it("OIDC form: standard claims camelCased as Convex exposes them, custom claims raw", async () => {
    const calls: string[] = [];
    const token = await sign(
      claims({
        email: "a@example.test",
        email_verified: true,
        picture: "https://p",
        given_name: "Ada",
        family_name: "Lovelace",
        preferred_username: "ada",
        phone_number: "+100",
        phone_number_verified: false,
        updated_at: 1700000000,
        address: { formatted: "1 Main St", country: "UK" },
        birthdate: "1815-12-10",
        zoneinfo: "Europe/London",
        locale: "en-GB",
        website: "https://ada.example",
        org: { id: 1 },
        role: "admin",
        jti: "j1",
      }),
    );
    const identity = await verify(token, oidc, idp({}, calls));
    expect(identity).toEqual({
      tokenIdentifier: `${ISSUER}|user-1`,
      subject: "user-1",
      issuer: ISSUER,
      email: "a@example.test",
      emailVerified: true,
      pictureUrl: "https://p",
      givenName: "Ada",
      familyName: "Lovelace",
      preferredUsername: "ada",
      phoneNumber: "+100",
      phoneNumberVerified: false,
      updatedAt: "2023-11-14T22:13:20+00:00",
      address: "1 Main St",
      birthday: "1815-12-10",
      timezone: "Europe/London",
      language: "en-GB",
      websiteUrl: "https://ada.example",
      org: { id: 1 },
      role: "admin",
    });
    expect(calls).toEqual([DISCOVERY_URL, JWKS_URL]);
  });

  it("OIDC form: updated_at as an RFC 3339 string is normalised to UTC", async () => {
    const token = await sign(claims({ updated_at: "2024-05-01T10:00:00.5+02:00" }));
    expect((await verify(token, oidc)).updatedAt).toBe("2024-05-01T08:00:00.500+00:00");
  });

  it("customJwt: a JWKS given as a data: URL is used without a MIME check", async () => {
    const jwks = `data:text/plain;base64,${Buffer.from(JSON.stringify({ keys: [publicJwk] })).toString("base64")}`;
    const identity = await verify(await sign(), { ...customJwt, jwks });
    expect(identity.subject).toBe("user-1");
  });

  it("customJwt: JWKS served as application/jwk-set+json; charset=utf-8", async () => {
    const identity = await verify(await sign(), customJwt, idp({ jwksType: "application/jwk-set+json; charset=UTF-8" }));
    expect(identity.subject).toBe("user-1");
  });

  it("OIDC form: kid may be omitted when exactly one compatible key is published", async () => {
    const token = await sign(claims(), { kid: undefined });
    expect((await verify(token, oidc)).subject).toBe("user-1");
  });

  it("OIDC form: an Ed25519 key next to the RSA key does not break the set", async () => {
    const ed = await generateKeyPair("EdDSA", { extractable: true });
    const okp = { ...(await exportJWK(ed.publicKey)), kid: "ed" };
    expect((await verify(await sign(), oidc, idp({ keys: [okp, publicJwk] }))).subject).toBe("user-1");
  });

  it("customJwt: extra audiences are fine", async () => {
    const token = await sign(claims({ aud: [APP, "other"] }));
    expect((await verify(token, customJwt)).subject).toBe("user-1");
  });

  it("customJwt without applicationID never checks aud", async () => {
    const { applicationID: _, ...noApp } = customJwt;
    const token = await sign(claims({ aud: undefined }));
    expect((await verify(token, noApp)).subject).toBe("user-1");
  });
});

describe("routing", () => {
  it("trailing slashes on the configured issuer or on iss still route (customJwt)", async () => {
    expect((await verify(await sign(), { ...customJwt, issuer: `${ISSUER}/` })).issuer).toBe(ISSUER);
    const slashed = await sign(claims({ iss: `${ISSUER}/` }));
    // tokenIdentifier keeps the raw iss, slash included.
    expect((await verify(slashed, customJwt)).tokenIdentifier).toBe(`${ISSUER}/|user-1`);
  });

  it("trailing slashes on the domain or on iss still route (OIDC form)", async () => {
    expect((await verify(await sign(), { ...oidc, domain: `${ISSUER}/` })).issuer).toBe(ISSUER);
    const calls: string[] = [];
    const slashed = await sign(claims({ iss: `${ISSUER}/` }));
    const identity = await verify(slashed, oidc, idp({ discovery: discoveryDoc(`${ISSUER}/`) }, calls));
    expect(identity.tokenIdentifier).toBe(`${ISSUER}/|user-1`);
    expect(calls[0]).toBe(DISCOVERY_URL);
  });

  it("a domain without a scheme gets https://", async () => {
    expect((await verify(await sign(), { ...oidc, domain: "idp.example.test" })).subject).toBe("user-1");
  });

  it("wrong iss: no provider, with Convex's message", async () => {
    const token = await sign(claims({ iss: "http://idp.example.test" }));
    await expect(verify(token, oidc)).rejects.toThrow("No auth provider found matching the given token");
    await rejects(verify(token, customJwt), "no_provider");
  });

  it("wrong aud: no provider", async () => {
    const token = await sign(claims({ aud: "someone-else" }));
    await rejects(verify(token, customJwt), "no_provider");
    await rejects(verify(token, oidc), "no_provider");
  });

  it("missing iss", async () => {
    await rejects(verify(await sign(claims({ iss: undefined })), customJwt), "missing_claim");
  });
});

describe("rejects bad tokens", () => {
  it("tampered payload (signature no longer matches)", async () => {
    const [h, , s] = (await sign()).split(".");
    const forged = `${h}.${b64url(JSON.stringify(claims({ sub: "admin" })))}.${s}`;
    await rejects(verify(forged, customJwt), "bad_signature");
    await rejects(verify(forged, oidc), "bad_signature");
  });

  it("tampered signature", async () => {
    const [h, p, s = ""] = (await sign()).split(".");
    const flipped = s.slice(0, 10) + (s[10] === "A" ? "B" : "A") + s.slice(11);
    await rejects(verify(`${h}.${p}.${flipped}`, customJwt), "bad_signature");
    await rejects(verify(`${h}.${p}.${flipped}`, oidc), "bad_signature");
  });

  it("expired: customJwt allows 5 s of leeway, the OIDC form none", async () => {
    const late = await sign(claims({ exp: NOW - 4 }));
    expect((await verify(late, customJwt)).subject).toBe("user-1");
    await rejects(verify(late, oidc), "expired");
    await rejects(verify(await sign(claims({ exp: NOW })), oidc), "expired");
    await rejects(verify(await sign(claims({ exp: NOW - 6 })), customJwt), "expired");
  });

  it("customJwt: nbf or iat more than 5 s in the future", async () => {
    expect((await verify(await sign(claims({ nbf: NOW + 5, iat: NOW + 5 })), customJwt)).subject).toBe("user-1");
    await rejects(verify(await sign(claims({ nbf: NOW + 6 })), customJwt), "not_yet_valid");
    await rejects(verify(await sign(claims({ iat: NOW + 6 })), customJwt), "iat_in_future");
  });

  it("OIDC form: an extra audience", async () => {
    const token = await sign(claims({ aud: [APP, "other"] }));
    await rejects(verify(token, oidc), "bad_aud");
    // A one-element array is fine.
    expect((await verify(await sign(claims({ aud: [APP] })), oidc)).subject).toBe("user-1");
  });

  it("customJwt: missing kid", async () => {
    await rejects(verify(await sign(claims(), { kid: undefined }), customJwt), "bad_kid");
  });

  it("OIDC form: missing kid with two compatible keys is ambiguous", async () => {
    const other = await generateKeyPair("RS256", { extractable: true });
    const second = { ...(await exportJWK(other.publicKey)), kid: "k2" };
    await rejects(verify(await sign(claims(), { kid: undefined }), oidc, idp({ keys: [publicJwk, second] })), "bad_kid");
  });

  it("unknown kid", async () => {
    const token = await sign(claims(), { kid: "nope" });
    await rejects(verify(token, customJwt), "bad_kid");
    await rejects(verify(token, oidc), "bad_kid");
  });

  it("wrong alg", async () => {
    // The same RSA key, signing RS384.
    const { alg: _, ...material } = privateJwk;
    const rs384 = await importJWK(material, "RS384");
    const token = await sign(claims(), { alg: "RS384" }, rs384);
    await rejects(verify(token, customJwt), "bad_alg");
    await rejects(verify(token, oidc), "bad_alg");
    // Header alg differs from the configured algorithm.
    await rejects(verify(await sign(), { ...customJwt, algorithm: "ES256" }), "bad_alg");
  });

  it("customJwt: the JWK's alg must match the header's", async () => {
    await rejects(verify(await sign(), customJwt, idp({ keys: [{ ...publicJwk, alg: "RS512" }] })), "bad_alg");
  });

  it("missing sub", async () => {
    const token = await sign(claims({ sub: undefined }));
    await rejects(verify(token, customJwt), "missing_claim");
    await rejects(verify(token, oidc), "missing_claim");
  });

  it("OIDC form: missing iat", async () => {
    await rejects(verify(await sign(claims({ iat: undefined })), oidc), "missing_claim");
    expect((await verify(await sign(claims({ iat: undefined })), customJwt)).subject).toBe("user-1");
  });

  it("string exp", async () => {
    const token = await sign(claims({ exp: String(NOW + 600) as unknown as number }));
    await rejects(verify(token, customJwt), "bad_claim_type");
    await rejects(verify(token, oidc), "bad_claim_type");
  });

  it("typ at+jwt: rejected in the OIDC form, accepted by customJwt", async () => {
    const token = await sign(claims(), { typ: "at+jwt" });
    await rejects(verify(token, oidc), "bad_typ");
    expect((await verify(token, customJwt)).subject).toBe("user-1");
  });

  it("OIDC form: cty header", async () => {
    await rejects(verify(await sign(claims(), { cty: "JWT" }), oidc), "bad_header");
  });

  it("JWKS served as text/plain", async () => {
    await rejects(verify(await sign(), customJwt, idp({ jwksType: "text/plain" })), "jwks_content_type");
    await rejects(verify(await sign(), oidc, idp({ jwksType: "text/plain" })), "jwks_content_type");
  });

  it("customJwt: JWKS with a charset other than utf-8", async () => {
    await rejects(verify(await sign(), customJwt, idp({ jwksType: "application/json; charset=iso-8859-1" })), "jwks_content_type");
  });

  it("customJwt: a JWKS containing an OKP key fails every token", async () => {
    const ed = await generateKeyPair("EdDSA", { extractable: true });
    const okp = { ...(await exportJWK(ed.publicKey)), kid: "ed" };
    await rejects(verify(await sign(), customJwt, idp({ keys: [publicJwk, okp] })), "jwks_unparseable");
  });

  it("customJwt: a JWKS containing a P-384 key fails every token", async () => {
    const ec = await generateKeyPair("ES384", { extractable: true });
    const p384 = { ...(await exportJWK(ec.publicKey)), kid: "ec" };
    await rejects(verify(await sign(), customJwt, idp({ keys: [publicJwk, p384] })), "jwks_unparseable");
  });

  it("OIDC form: discovery issuer differs by a trailing slash", async () => {
    await rejects(verify(await sign(), oidc, idp({ discovery: discoveryDoc(`${ISSUER}/`) })), "discovery_issuer_mismatch");
  });

  it("OIDC form: discovery not answering 200", async () => {
    const fetchFn = fakeFetch({ [JWKS_URL]: { body: { keys: [publicJwk] } } });
    await rejects(verify(await sign(), oidc, fetchFn), "discovery_failed");
  });

  it("email_verified as a string: rejected in the OIDC form, passed through raw by customJwt", async () => {
    const token = await sign(claims({ email_verified: "true" }));
    await rejects(verify(token, oidc), "bad_claim_type");
    expect((await verify(token, customJwt)).email_verified).toBe("true");
  });

  it("OIDC form: address that is not an object, updated_at that is not a date", async () => {
    await rejects(verify(await sign(claims({ address: "1 Main St" })), oidc), "bad_claim_type");
    await rejects(verify(await sign(claims({ updated_at: "yesterday" })), oidc), "bad_claim_type");
  });
});
