// The token doctor's rules on a table of tokens, each breaking one rule: signed with a real key of
// a KEYS_DIR (as the server writes it) or with a foreign key; the report must fail exactly there.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { SignJWT, exportJWK, generateKeyPair, importJWK, type JWK, type JWTHeaderParameters, type JWTPayload } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exitStatus, formatResult } from "../../idp/doctor/report.ts";
import { TOKEN_RULES, diagnoseToken, type TokenDoctorContext } from "../../idp/doctor/token-rules.ts";
import { keySchedule } from "../../idp/keys/key-schedule.ts";
import { generateSigningKey, loadSigningKeys } from "../../idp/keys/signing-keys.ts";

const ISSUER = "http://localhost:3000/oidc";
const NOW = 2_000_000_000;
const CLIENT = "my-app";
const SERVICE_CLIENT = "inference-worker";
const SERVICE_AUDIENCE = "convex-services";
const RULES = ["alg", "kid", "jwks-key", "signature", "iss", "aud", "exp", "iat", "nbf", "sub", "claim-types", "auth-config"];

let keysDir: string;
let ctx: TokenDoctorContext;
let idpJwk: JWK;
let idpKid: string;
let foreignJwk: JWK;

beforeAll(async () => {
  keysDir = await mkdtemp(path.join(os.tmpdir(), "doctor-keys-"));
  const generated = await generateSigningKey(keysDir);
  idpKid = generated.kid;
  idpJwk = generated.jwk;
  foreignJwk = await exportJWK((await generateKeyPair("RS256", { extractable: true })).privateKey);
  const schedule = keySchedule(await loadSigningKeys(keysDir), new Date(NOW * 1000), { maxSignedTokenTtlSeconds: 3600, marginSeconds: 60 });
  const published: JWK[] = await Promise.all(schedule.published.map(async ({ jwk }) => ({ kty: "RSA", n: jwk.n, e: jwk.e, kid: jwk.kid, alg: "RS256", use: "sig" })));
  ctx = {
    issuer: ISSUER,
    now: NOW,
    published,
    keyStatus: new Map(schedule.timeline.map((entry) => [entry.key.kid, entry.status])),
    clients: [
      { id: CLIENT, service: false },
      { id: SERVICE_CLIENT, service: true },
    ],
    serviceAudience: SERVICE_AUDIENCE,
  };
});

afterAll(async () => {
  await rm(keysDir, { recursive: true, force: true });
});

type Row = {
  name: string;
  claims?: JWTPayload;
  drop?: string[];
  header?: Partial<JWTHeaderParameters> & { kid?: string | undefined };
  foreign?: boolean;
  /** The rules that must fail; every other rule must pass. */
  fails: string[];
  /** Words the first failing (or, when none fail, a named) line must contain. */
  says?: RegExp;
};

const idClaims = (): JWTPayload => ({ iss: ISSUER, sub: "user-1", aud: CLIENT, iat: NOW - 10, exp: NOW + 3590, email: "a@example.com", email_verified: true });

async function sign(row: Row): Promise<string> {
  const payload: JWTPayload = { ...idClaims(), ...row.claims };
  for (const name of row.drop ?? []) delete payload[name];
  const header: JWTHeaderParameters = { alg: "RS256", typ: "JWT", kid: idpKid, ...row.header } as JWTHeaderParameters;
  if (row.header && "kid" in row.header && row.header.kid === undefined) delete header.kid;
  // The same RSA key imported for the header's algorithm, so that only the alg differs.
  const { alg: _alg, ...material } = row.foreign ? foreignJwk : idpJwk;
  return new SignJWT(payload).setProtectedHeader(header).sign(await importJWK(material, header.alg));
}

const rows: Row[] = [
  { name: "a good ID token", fails: [], says: /PASS auth-config: the first customJwt entry .* set to my-app\) takes it; the OIDC form .* would take it too/ },
  { name: "a good service token (typ at+jwt)", claims: { aud: SERVICE_AUDIENCE, sub: SERVICE_CLIENT, token_use: "service" }, header: { typ: "at+jwt" }, fails: [], says: /PASS auth-config: the second customJwt entry .*OIDC form .* would refuse it: typ at\+jwt/ },
  { name: "another algorithm", header: { alg: "RS512" }, fails: ["alg"], says: /FAIL alg: the header says alg "RS512"/ },
  { name: "no kid", header: { kid: undefined }, fails: ["kid", "jwks-key"], says: /FAIL kid: the header has no kid/ },
  { name: "an unknown kid on this IdP's key", header: { kid: "not-a-key" }, fails: ["jwks-key"], says: /FAIL jwks-key: no key not-a-key in KEYS_DIR/ },
  { name: "an unknown kid on a foreign key", header: { kid: "foreign" }, foreign: true, fails: ["jwks-key", "signature"], says: /FAIL jwks-key: no key foreign/ },
  { name: "a foreign key under this IdP's kid", foreign: true, fails: ["signature"], says: /FAIL signature: does not verify with key/ },
  { name: "iss with a trailing slash", claims: { iss: `${ISSUER}/` }, fails: ["iss"], says: /FAIL iss: .*trailing '\/'.*customJwt form forgives this.*OIDC form does not/ },
  { name: "iss over https", claims: { iss: ISSUER.replace("http:", "https:") }, fails: ["iss", "auth-config"], says: /FAIL iss: .*it says https where the IdP says http.*No auth provider found matching the given token/ },
  { name: "iss on 127.0.0.1", claims: { iss: ISSUER.replace("localhost", "127.0.0.1") }, fails: ["iss", "auth-config"], says: /FAIL iss: .*127\.0\.0\.1 where the IdP says localhost/ },
  { name: "an unknown aud", claims: { aud: "someone-else" }, fails: ["aud", "auth-config"], says: /FAIL aud: "someone-else" is neither a registered client nor the service audience/ },
  { name: "a service client as aud", claims: { aud: SERVICE_CLIENT }, fails: ["aud", "auth-config"], says: /FAIL aud: aud inference-worker is a service client/ },
  { name: "no aud", drop: ["aud"], fails: ["aud", "auth-config"], says: /FAIL aud: the token has no aud/ },
  { name: "expired beyond the leeway", claims: { iat: NOW - 3700, exp: NOW - 6 }, fails: ["exp"], says: /FAIL exp: expired 6 s ago/ },
  { name: "exp as a string", claims: { exp: String(NOW + 60) as unknown as number }, fails: ["exp"], says: /FAIL exp: exp must be an integer/ },
  { name: "iat in the future", claims: { iat: NOW + 60 }, fails: ["iat"], says: /FAIL iat: issued 60 s in the future/ },
  { name: "a lifetime convex-js cannot refresh", claims: { iat: NOW - 1, exp: NOW + 1 }, fails: ["iat"], says: /FAIL iat: the token lives 2 s/ },
  { name: "nbf in the future", claims: { nbf: NOW + 60 }, fails: ["nbf"], says: /FAIL nbf: not valid for another 60 s/ },
  { name: "no sub", drop: ["sub"], fails: ["sub"], says: /FAIL sub: the token has no sub/ },
  { name: "email_verified as a string", claims: { email_verified: "true" }, fails: ["claim-types"], says: /FAIL claim-types: 'email_verified' must be a boolean/ },
];

describe("idp doctor token rules", () => {
  it("cover the rules the report promises, in order", () => {
    expect(TOKEN_RULES).toHaveLength(RULES.length);
  });

  it.each(rows)("$name", async (row) => {
    const results = await diagnoseToken(await sign(row), ctx);
    expect(results.map((result) => result.rule)).toEqual(RULES);
    expect(results.filter((result) => !result.ok).map((result) => result.rule)).toEqual(row.fails);
    expect(exitStatus(results)).toBe(row.fails.length ? 1 : 0);
    const lines = results.map(formatResult);
    for (const line of lines) expect(line).toMatch(/^(PASS [\w-]+: \S|FAIL [\w-]+: .+\. Fix: \S)/);
    if (row.says) expect(lines.join("\n")).toMatch(row.says);
  });

  it("passes a token expired within Convex's 5 s leeway, and says so", async () => {
    const results = await diagnoseToken(await sign({ name: "", claims: { iat: NOW - 3600, exp: NOW - 5 }, fails: [] }), ctx);
    expect(exitStatus(results)).toBe(0);
    expect(results.map(formatResult)).toContain("PASS exp: expired 5 s ago, within Convex's 5 s leeway (the OIDC form has none)");
  });

  it("reports a retired key as retired, not unknown", async () => {
    const retired = { ...ctx, published: [], keyStatus: new Map([[idpKid, "retired"]]) };
    const results = await diagnoseToken(await sign({ name: "", fails: [] }), retired);
    expect(results.find((result) => result.rule === "jwks-key")).toMatchObject({ ok: false, message: expect.stringContaining("has retired") });
  });

  it("gives one decode failure for what is not a JWT", async () => {
    for (const junk of ["", "abc", "a.b", "e30.bm90IGpzb24.c2ln", `${Buffer.from('{"alg":"RS256"}').toString("base64url")}.WzFd.c2ln`]) {
      const results = await diagnoseToken(junk, ctx);
      expect(results).toHaveLength(1);
      expect(formatResult(results[0]!)).toMatch(/^FAIL decode: .+\. Fix: /);
    }
  });
});
