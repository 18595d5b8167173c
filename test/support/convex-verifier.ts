// Test-only, strict re-implementation of the checks the Convex backend runs on a JWT (as the steering repository's shared/convex-auth-rules.md sets them out).
import { compactVerify, decodeJwt, decodeProtectedHeader, errors, importJWK } from "jose";
import type { JWK, ProtectedHeaderParameters } from "jose";
import {
  CLOCK_LEEWAY_SECONDS as CLOCK_LEEWAY_S,
  NO_PROVIDER_MESSAGE,
  audiences,
  isObject,
  lenientContentType,
  normalizeConfigIssuer,
  normalizeTokenIssuer,
  oidcClaimTypeProblem,
  present,
  registeredClaimTypeProblem,
  strictJsonContentType,
  unsupportedJwkProblem,
} from "../../idp/doctor/convex-rules.ts";

export type CustomJwtProvider = {
  type: "customJwt";
  issuer: string;
  jwks: string;
  algorithm: "RS256" | "ES256";
  applicationID?: string;
};
export type OidcProvider = { domain: string; applicationID: string };
export type AuthProvider = CustomJwtProvider | OidcProvider;
export type ConvexIdentity = Record<string, unknown> & {
  tokenIdentifier: string;
  subject: string;
  issuer: string;
};

export class ConvexAuthError extends Error {
  code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "ConvexAuthError";
    this.code = code;
  }
}

type Options = { fetch?: typeof fetch; now?: () => number };
type Claims = Record<string, unknown>;

function fail(code: string, message: string): never {
  throw new ConvexAuthError(code, message);
}

export async function verifyConvexToken(
  token: string,
  providers: AuthProvider[],
  options: Options = {},
): Promise<ConvexIdentity> {
  const fetchFn = options.fetch ?? globalThis.fetch;
  // Convex truncates the clock to whole seconds before comparing.
  const nowS = Math.floor((options.now ?? Date.now)() / 1000);

  const claims = decodeUnverified(token);
  const provider = route(claims, providers);
  return isCustomJwt(provider)
    ? verifyCustomJwt(token, provider, fetchFn, nowS)
    : verifyOidc(token, claims.iss as string, provider, fetchFn, nowS);
}

// ---------------------------------------------------------------- routing

function isCustomJwt(p: AuthProvider): p is CustomJwtProvider {
  return "type" in p && p.type === "customJwt";
}

function decodeUnverified(token: string): Claims {
  let claims: Claims;
  try {
    claims = decodeJwt(token);
  } catch (e) {
    fail("malformed", `Could not parse JWT payload: ${(e as Error).message}`);
  }
  checkRegisteredClaimTypes(claims);
  if (!present(claims.iss)) fail("missing_claim", "Missing issuer claim ('iss') in JWT payload");
  return claims;
}

// Routing parses the payload into biscuit's typed RegisteredClaims, so a wrong type fails
// every token, whichever form it is routed to: integers for times (i64), strings elsewhere.
function checkRegisteredClaimTypes(claims: Claims): void {
  const problem = registeredClaimTypeProblem(claims);
  if (problem) fail("bad_claim_type", problem);
}

function route(claims: Claims, providers: AuthProvider[]): AuthProvider {
  const iss = normalizeTokenIssuer(claims.iss as string);
  const auds = audiences(claims);
  // First match wins; there is no fallback to a later provider if verification fails.
  const match = providers.find((p) => {
    // customJwt without applicationID never looks at aud.
    if (p.applicationID !== undefined && !auds.includes(p.applicationID)) return false;
    return normalizeConfigIssuer(isCustomJwt(p) ? p.issuer : p.domain) === iss;
  });
  return match ?? fail("no_provider", NO_PROVIDER_MESSAGE);
}

// ---------------------------------------------------------------- HTTP

async function httpGet(fetchFn: typeof fetch, url: string, code: string): Promise<Response> {
  try {
    return await fetchFn(url, { headers: { accept: "application/json" } });
  } catch (e) {
    fail(code, `Could not fetch '${url}': ${(e as Error).message}`);
  }
}

async function readJson(res: Response, code: string, what: string): Promise<unknown> {
  try {
    return JSON.parse(await res.text());
  } catch {
    fail(code, `${what} is not valid JSON`);
  }
}

// ---------------------------------------------------------------- keys

type KeyEntry = { jwk: Record<string, unknown>; kid?: string; alg?: string; use?: string };

// Only the public key material: alg/use/key_ops compatibility is checked by our own code.
function publicMaterial(jwk: Record<string, unknown>): JWK {
  switch (jwk.kty) {
    case "RSA":
      return { kty: "RSA", n: jwk.n as string, e: jwk.e as string };
    case "EC":
      return { kty: "EC", crv: jwk.crv as string, x: jwk.x as string, y: jwk.y as string };
    default:
      return { kty: jwk.kty as string, crv: jwk.crv as string, x: jwk.x as string };
  }
}

async function importPublic(jwk: Record<string, unknown>, alg: string): Promise<CryptoKey | Uint8Array> {
  return importJWK(publicMaterial(jwk), alg);
}

// biscuit parses the whole set; one key it does not support fails every token.
async function parseStrictJwks(json: unknown): Promise<KeyEntry[]> {
  if (!isObject(json) || !Array.isArray(json.keys)) fail("jwks_unparseable", "JWKS has no 'keys' array");
  const entries: KeyEntry[] = [];
  for (const [i, key] of json.keys.entries()) {
    const problem = unsupportedJwkProblem(key);
    if (problem) fail("jwks_unparseable", `JWKS key ${i}: ${problem}`);
    if (!isObject(key)) continue;
    if (key.kty === "RSA") await probeImport(key, "RS256", i);
    else if (key.kty === "EC") await probeImport(key, "ES256", i);
    entries.push(toEntry(key));
  }
  return entries;
}

async function probeImport(key: Record<string, unknown>, alg: string, i: number): Promise<void> {
  try {
    await importPublic(key, alg);
  } catch (e) {
    fail("jwks_unparseable", `JWKS key ${i} cannot be parsed: ${(e as Error).message}`);
  }
}

function toEntry(key: Record<string, unknown>): KeyEntry {
  const entry: KeyEntry = { jwk: key };
  if (typeof key.kid === "string") entry.kid = key.kid;
  if (typeof key.alg === "string") entry.alg = key.alg;
  if (typeof key.use === "string") entry.use = key.use;
  return entry;
}

function decodeHeader(token: string): ProtectedHeaderParameters {
  try {
    return decodeProtectedHeader(token);
  } catch (e) {
    fail("malformed", `Could not parse JWT header: ${(e as Error).message}`);
  }
}

async function verifySignature(token: string, key: CryptoKey | Uint8Array, alg: string): Promise<Claims> {
  let payload: Uint8Array;
  try {
    ({ payload } = await compactVerify(token, key, { algorithms: [alg] }));
  } catch (e) {
    if (e instanceof errors.JWSSignatureVerificationFailed) fail("bad_signature", "JWT signature is invalid");
    fail("malformed", `Could not verify JWT: ${(e as Error).message}`);
  }
  let claims: unknown;
  try {
    claims = JSON.parse(new TextDecoder().decode(payload));
  } catch {
    fail("malformed", "JWT payload is not JSON");
  }
  if (!isObject(claims)) fail("malformed", "JWT payload is not a JSON object");
  checkRegisteredClaimTypes(claims);
  return claims;
}

// ---------------------------------------------------------------- customJwt

async function loadCustomJwks(url: string, fetchFn: typeof fetch): Promise<unknown> {
  if (/^data:/i.test(url)) {
    // Convex decodes data: URLs itself and skips the MIME check; the platform fetch decodes them per WHATWG.
    const res = await httpGet(globalThis.fetch, url, "jwks_unparseable");
    return readJson(res, "jwks_unparseable", "JWKS data URL");
  }
  const res = await httpGet(fetchFn, url, "jwks_fetch_failed");
  if (res.status !== 200) fail("jwks_fetch_failed", `Could not fetch JWKS from '${url}': HTTP ${res.status}`);
  const type = res.headers.get("content-type");
  if (!strictJsonContentType(type)) {
    fail("jwks_content_type", `Invalid Content-Type '${type ?? "unknown"}' when fetching JWKS from '${url}'`);
  }
  return readJson(res, "jwks_unparseable", "JWKS");
}

async function verifyCustomJwt(
  token: string,
  provider: CustomJwtProvider,
  fetchFn: typeof fetch,
  nowS: number,
): Promise<ConvexIdentity> {
  const keys = await parseStrictJwks(await loadCustomJwks(provider.jwks, fetchFn));

  const header = decodeHeader(token);
  if (typeof header.kid !== "string") fail("bad_kid", "JWT is missing a 'kid' (key ID) header");
  // biscuit takes the first key with that kid, nothing else.
  const key = keys.find((k) => k.kid === header.kid);
  if (!key) fail("bad_kid", `JWT 'kid' '${header.kid}' matches no key in the JWKS`);
  if (key.alg !== undefined && key.alg !== header.alg) {
    fail("bad_alg", `JWT alg ${String(header.alg)} differs from the JWK's alg ${key.alg}`);
  }
  if (header.alg !== provider.algorithm) {
    fail("bad_alg", `JWT alg ${String(header.alg)} differs from the configured ${provider.algorithm}`);
  }
  const wantKty = provider.algorithm === "RS256" ? "RSA" : "EC";
  if (key.jwk.kty !== wantKty) fail("bad_alg", `Key '${key.kid}' is ${String(key.jwk.kty)}, not usable with ${provider.algorithm}`);

  const claims = await verifySignature(token, await importPublic(key.jwk, provider.algorithm), provider.algorithm);

  if (!present(claims.iss)) fail("missing_claim", "Missing issuer claim ('iss')");
  const iss = claims.iss as string;
  if (normalizeTokenIssuer(iss) !== normalizeConfigIssuer(provider.issuer)) {
    fail("bad_iss", `Invalid issuer: ${iss} != ${provider.issuer}`);
  }
  if (provider.applicationID !== undefined) {
    if (!present(claims.aud)) fail("missing_claim", "Missing audience claim ('aud')");
    if (!audiences(claims).includes(provider.applicationID)) {
      fail("bad_aud", `Invalid audience: ${provider.applicationID} not in ${JSON.stringify(claims.aud)}`);
    }
  }
  if (typeof claims.exp === "number" && nowS - claims.exp > CLOCK_LEEWAY_S) {
    fail("expired", `Token expired ${nowS - claims.exp} s ago`);
  }
  if (typeof claims.nbf === "number" && claims.nbf - nowS > CLOCK_LEEWAY_S) {
    fail("not_yet_valid", `Token not valid for another ${claims.nbf - nowS} s (nbf)`);
  }
  if (typeof claims.iat === "number" && claims.iat - nowS > CLOCK_LEEWAY_S) {
    fail("iat_in_future", `Token issued ${claims.iat - nowS} s in the future (iat)`);
  }
  for (const name of ["sub", "iss", "exp"]) {
    if (!present(claims[name])) fail("missing_claim", `Missing '${name}' claim`);
  }

  const sub = claims.sub as string;
  const custom: Claims = {};
  for (const [k, v] of Object.entries(claims)) if (!REGISTERED.has(k)) custom[k] = v;
  return { ...flatten(custom), tokenIdentifier: `${iss}|${sub}`, subject: sub, issuer: iss };
}

// biscuit's registered claims never reach custom claims.
const REGISTERED = new Set(["iss", "sub", "aud", "exp", "nbf", "iat", "jti"]);

// Convex's extract_custom_jwt_claims: nested objects become dotted keys, arrays stay as they are.
function flatten(obj: Claims, prefix = "", out: Claims = {}): Claims {
  for (const [k, v] of Object.entries(obj)) {
    if (isObject(v)) flatten(v, `${prefix}${k}.`, out);
    else out[`${prefix}${k}`] = v;
  }
  return out;
}

// ---------------------------------------------------------------- OIDC form

const OIDC_ALGS = ["RS256", "EdDSA"];

async function verifyOidc(
  token: string,
  tokenIss: string, // unverified: discovery runs from the token's own iss, not the configured domain
  provider: OidcProvider,
  fetchFn: typeof fetch,
  nowS: number,
): Promise<ConvexIdentity> {
  try {
    new URL(tokenIss);
  } catch {
    fail("bad_iss", `Token issuer '${tokenIss}' is not a URL`);
  }
  const metadata = await discover(tokenIss, fetchFn);
  const keys = await loadOidcJwks(metadata.jwks_uri, fetchFn);

  const header = decodeHeader(token);
  if (present(header.typ) && (typeof header.typ !== "string" || header.typ.toUpperCase() !== "JWT")) {
    fail("bad_typ", `Unsupported JWT type '${String(header.typ)}'`);
  }
  if (present(header.cty)) fail("bad_header", "JWT 'cty' header is not supported");
  if (present(header.crit)) fail("bad_header", "JWT 'crit' header is not supported");
  const alg = header.alg;
  if (typeof alg !== "string" || !OIDC_ALGS.includes(alg)) fail("bad_alg", `Algorithm ${String(alg)} is not allowed (RS256 or EdDSA)`);
  if (present(header.kid) && typeof header.kid !== "string") fail("bad_kid", "JWT 'kid' must be a string");

  const candidates = keys.filter(
    (k) => (header.kid === undefined || k.kid === header.kid) && compatible(k, alg),
  );
  if (candidates.length === 0) fail("bad_kid", `No JWKS key matches kid '${String(header.kid)}' and alg ${alg}`);
  if (candidates.length > 1) fail("bad_kid", `${candidates.length} JWKS keys match; the JWT needs a distinguishing 'kid'`);
  const [candidate] = candidates as [KeyEntry];
  let key: CryptoKey | Uint8Array;
  try {
    key = await importPublic(candidate.jwk, alg);
  } catch (e) {
    fail("jwks_unparseable", `JWKS key '${String(candidate.kid)}' cannot be parsed: ${(e as Error).message}`);
  }
  const claims = await verifySignature(token, key, alg);

  for (const name of ["iss", "aud", "exp", "iat", "sub"]) {
    if (!present(claims[name])) fail("missing_claim", `Missing '${name}' claim`);
  }
  if (claims.iss !== metadata.issuer) fail("bad_iss", `Issuer ${String(claims.iss)} != ${metadata.issuer}`);
  const auds = audiences(claims);
  if (!auds.includes(provider.applicationID)) fail("bad_aud", `Audience does not contain ${provider.applicationID}`);
  if (auds.some((a) => a !== provider.applicationID)) fail("bad_aud", `Untrusted extra audience in ${JSON.stringify(claims.aud)}`);
  if (nowS >= (claims.exp as number)) fail("expired", `Token expired at ${String(claims.exp)} (no leeway)`);
  const updatedAt = checkOidcClaimTypes(claims);

  return oidcIdentity(claims, updatedAt);
}

type Metadata = { issuer: string; jwks_uri: string };

async function discover(iss: string, fetchFn: typeof fetch): Promise<Metadata> {
  const url = `${iss.replace(/\/+$/, "")}/.well-known/openid-configuration`;
  const res = await httpGet(fetchFn, url, "discovery_failed");
  if (res.status !== 200) fail("discovery_failed", `Auth provider discovery of ${iss} failed: HTTP ${res.status}`);
  if (!lenientContentType(res.headers.get("content-type"), ["application/json"])) {
    fail("discovery_failed", `Discovery answered Content-Type ${String(res.headers.get("content-type"))}`);
  }
  const json = await readJson(res, "discovery_failed", "Discovery document");
  if (!isObject(json)) fail("discovery_failed", "Discovery document is not an object");
  // The members openidconnect-rs's CoreProviderMetadata cannot deserialize without.
  for (const name of ["issuer", "authorization_endpoint", "jwks_uri"]) {
    if (typeof json[name] !== "string") fail("discovery_failed", `Discovery document lacks '${name}'`);
  }
  for (const name of ["response_types_supported", "subject_types_supported", "id_token_signing_alg_values_supported"]) {
    if (!Array.isArray(json[name])) fail("discovery_failed", `Discovery document lacks '${name}'`);
  }
  if (json.issuer !== iss) {
    fail("discovery_issuer_mismatch", `Discovery issuer '${String(json.issuer)}' is not the token's iss '${iss}'`);
  }
  return { issuer: json.issuer, jwks_uri: json.jwks_uri as string };
}

async function loadOidcJwks(url: string, fetchFn: typeof fetch): Promise<KeyEntry[]> {
  const res = await httpGet(fetchFn, url, "jwks_fetch_failed");
  if (res.status !== 200) fail("jwks_fetch_failed", `Could not fetch JWKS from '${url}': HTTP ${res.status}`);
  const type = res.headers.get("content-type");
  if (!lenientContentType(type, ["application/json", "application/jwk-set+json"])) {
    fail("jwks_content_type", `Invalid Content-Type '${String(type)}' when fetching JWKS from '${url}'`);
  }
  const json = await readJson(res, "jwks_unparseable", "JWKS");
  if (!isObject(json) || !Array.isArray(json.keys)) fail("jwks_unparseable", "JWKS has no 'keys' array");
  // openidconnect-rs skips keys it cannot deserialize instead of failing the set.
  return json.keys.filter(isObject).map(toEntry);
}

function compatible(k: KeyEntry, alg: string): boolean {
  const ktyOk = alg === "RS256" ? k.jwk.kty === "RSA" : k.jwk.kty === "OKP" && k.jwk.crv === "Ed25519";
  return ktyOk && (k.use === undefined || k.use === "sig") && (k.alg === undefined || k.alg === alg);
}

// openidconnect-rs deserializes the ID token into typed claims: a wrong type rejects the token.
// Returns updated_at as chrono's to_rfc3339() string, which is what Convex exposes.
function checkOidcClaimTypes(claims: Claims): string | undefined {
  function bad(name: string, want: string): never {
    fail("bad_claim_type", `'${name}' must be ${want}`);
  }
  const problem = oidcClaimTypeProblem(claims);
  if (problem) fail("bad_claim_type", problem);
  const u = claims.updated_at;
  if (!present(u)) return undefined;
  if (typeof u === "number" && Number.isFinite(u)) {
    const secs = Math.floor(u);
    return chronoRfc3339(secs, Math.floor((u - secs) * 1e9));
  }
  if (typeof u === "string") return parseRfc3339(u) ?? bad("updated_at", "a number or an RFC 3339 date-time");
  return bad("updated_at", "a number or an RFC 3339 date-time");
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

function parseRfc3339(s: string): string | undefined {
  const m = RFC3339.exec(s);
  if (!m) return undefined;
  const [y, mo, d, h, mi, sec] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, sec));
  if (date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || h > 23 || mi > 59 || sec > 59) return undefined;
  const offH = Number(m[9] ?? 0);
  const offM = Number(m[10] ?? 0);
  if (offH > 23 || offM > 59) return undefined;
  const offset = (m[8] === "-" ? -1 : 1) * (offH * 3600 + offM * 60);
  const nanos = Number((m[7] ?? "").slice(0, 9).padEnd(9, "0"));
  return chronoRfc3339(date.getTime() / 1000 - offset, nanos);
}

// chrono's DateTime<Utc>::to_rfc3339(): "+00:00", fraction only when non-zero, in 3/6/9 digits.
function chronoRfc3339(secs: number, nanos: number): string {
  const base = new Date(secs * 1000).toISOString().slice(0, 19);
  if (nanos === 0) return `${base}+00:00`;
  const digits = String(nanos).padStart(9, "0");
  const frac = nanos % 1e6 === 0 ? digits.slice(0, 3) : nanos % 1e3 === 0 ? digits.slice(0, 6) : digits;
  return `${base}.${frac}+00:00`;
}

// Claims that never become custom claims: the ID-token fields openidconnect-rs consumes, plus
// the list Convex filters out in UserIdentity::from_token.
const NOT_CUSTOM_OIDC = new Set([
  "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "at_hash", "c_hash",
  "sub", "name", "given_name", "family_name", "nickname", "preferred_username", "profile",
  "picture", "website", "email", "email_verified", "gender", "birthdate", "zoneinfo", "locale",
  "phone_number", "phone_number_verified", "address", "updated_at", "jti", "nbf",
]);

// Claim -> field name in the identity JSON Convex hands to functions (sync_types json.rs).
const OIDC_FIELDS: Array<[string, string]> = [
  ["name", "name"],
  ["given_name", "givenName"],
  ["family_name", "familyName"],
  ["nickname", "nickname"],
  ["preferred_username", "preferredUsername"],
  ["profile", "profileUrl"],
  ["picture", "pictureUrl"],
  ["website", "websiteUrl"],
  ["email", "email"],
  ["email_verified", "emailVerified"],
  ["gender", "gender"],
  ["birthdate", "birthday"],
  ["zoneinfo", "timezone"],
  ["locale", "language"],
  ["phone_number", "phoneNumber"],
  ["phone_number_verified", "phoneNumberVerified"],
];

function oidcIdentity(claims: Claims, updatedAt: string | undefined): ConvexIdentity {
  const iss = claims.iss as string;
  const sub = claims.sub as string;
  const identity: Claims = {};
  for (const [k, v] of Object.entries(claims)) if (!NOT_CUSTOM_OIDC.has(k)) identity[k] = v;
  for (const [claim, field] of OIDC_FIELDS) if (present(claims[claim])) identity[field] = claims[claim];
  // Convex keeps only the address's formatted string.
  const formatted = isObject(claims.address) ? claims.address.formatted : undefined;
  if (typeof formatted === "string") identity.address = formatted;
  if (updatedAt !== undefined) identity.updatedAt = updatedAt;
  return { ...identity, tokenIdentifier: `${iss}|${sub}`, subject: sub, issuer: iss };
}
