// The checks the Convex backend runs on a token and a JWKS, as small pure predicates, read from its
// source (see README "Debugging"): one implementation for `idp doctor` and the test verifier.

/** customJwt tolerates this much clock skew on exp, nbf and iat (biscuit's epsilon); the OIDC form none on exp. */
export const CLOCK_LEEWAY_SECONDS = 5;

/** The message Convex gives when no auth.config.ts provider has the token's iss and aud. */
export const NO_PROVIDER_MESSAGE = "No auth provider found matching the given token";

export type Claims = Record<string, unknown>;

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** serde maps JSON null onto an absent Option, so null counts as "not there". */
export function present(value: unknown): boolean {
  return value !== undefined && value !== null;
}

/** The token's audiences: aud as a string or an array (its string members). */
export function audiences(claims: Claims): string[] {
  const aud = claims.aud;
  if (typeof aud === "string") return [aud];
  return Array.isArray(aud) ? aud.filter((entry): entry is string => typeof entry === "string") : [];
}

/** An auth.config.ts issuer or domain as routing compares it: https:// when it has no scheme, no trailing '/'. */
export function normalizeConfigIssuer(value: string): string {
  return (/^\w+:\/\//.test(value) ? value : `https://${value}`).replace(/\/+$/, "");
}

/** A token's iss as routing compares it: https:// unless already http(s), no trailing '/'. */
export function normalizeTokenIssuer(value: string): string {
  return (value.startsWith("https://") || value.startsWith("http://") ? value : `https://${value}`).replace(/\/+$/, "");
}

/** Whether routing sends a token with this iss to a provider configured with this issuer (or domain). */
export function issuerRoutes(tokenIss: string, configured: string): boolean {
  return normalizeTokenIssuer(tokenIss) === normalizeConfigIssuer(configured);
}

/**
 * The customJwt JWKS Content-Type rule: application/json or application/jwk-set+json exactly
 * (case-insensitive), charset absent or utf-8; no header at all fails.
 */
export function strictJsonContentType(header: string | null): boolean {
  if (header === null) return false;
  const [essence = "", ...params] = header.split(";");
  if (!["application/json", "application/jwk-set+json"].includes(essence.trim().toLowerCase())) return false;
  for (const param of params) {
    const eq = param.indexOf("=");
    if (eq < 0) return false;
    if (param.slice(0, eq).trim().toLowerCase() !== "charset") continue;
    const value = param.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1");
    if (value.toLowerCase() !== "utf-8") return false;
  }
  return true;
}

/** The OIDC form's Content-Type rule (openidconnect-rs): a missing header passes, otherwise a prefix match. */
export function lenientContentType(header: string | null, expected: string[]): boolean {
  if (header === null) return true;
  const lower = header.toLowerCase();
  return expected.some((type) => lower.startsWith(type));
}

/**
 * Routing parses the payload into typed registered claims, so a wrong type fails every token:
 * strings for iss/sub/jti, integer seconds for exp/nbf/iat, a string or string array for aud.
 * Returns the first problem as "'name' must be ...", or undefined.
 */
export function registeredClaimTypeProblem(claims: Claims, names: readonly string[] = ["iss", "sub", "jti", "exp", "nbf", "iat", "aud"]): string | undefined {
  for (const name of names) {
    const value = claims[name];
    if (!present(value)) continue;
    if (["iss", "sub", "jti"].includes(name) && typeof value !== "string") return `'${name}' must be a string`;
    if (["exp", "nbf", "iat"].includes(name) && !Number.isInteger(value)) return `'${name}' must be an integer number of seconds`;
    if (name === "aud" && typeof value !== "string" && !(Array.isArray(value) && value.every((entry) => typeof entry === "string"))) {
      return "'aud' must be a string or an array of strings";
    }
  }
  return undefined;
}

/** Standard ID-token claims openidconnect-rs deserializes as strings (the OIDC form rejects another type). */
export const OIDC_STRING_CLAIMS = [
  "nonce", "acr", "azp", "at_hash", "c_hash",
  "name", "given_name", "family_name", "middle_name", "nickname", "preferred_username",
  "profile", "picture", "website", "email", "gender", "birthdate", "zoneinfo", "locale", "phone_number",
];
export const OIDC_ADDRESS_FIELDS = ["formatted", "street_address", "locality", "region", "postal_code", "country"];

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

/**
 * The OIDC form's typed standard claims: the first problem ("'email_verified' must be a boolean"),
 * or undefined. updated_at may be a number or an RFC 3339 string (validated by the caller that needs its value).
 */
export function oidcClaimTypeProblem(claims: Claims): string | undefined {
  for (const name of OIDC_STRING_CLAIMS) {
    if (present(claims[name]) && typeof claims[name] !== "string") return `'${name}' must be a string`;
  }
  for (const name of ["email_verified", "phone_number_verified"]) {
    if (present(claims[name]) && typeof claims[name] !== "boolean") return `'${name}' must be a boolean`;
  }
  if (present(claims.auth_time) && typeof claims.auth_time !== "number") return "'auth_time' must be a number";
  if (present(claims.amr) && !(Array.isArray(claims.amr) && claims.amr.every((entry) => typeof entry === "string"))) {
    return "'amr' must be an array of strings";
  }
  if (present(claims.address)) {
    const address = claims.address;
    if (!isObject(address)) return "'address' must be an object";
    for (const field of OIDC_ADDRESS_FIELDS) {
      if (present(address[field]) && typeof address[field] !== "string") return `'address.${field}' must be a string`;
    }
  }
  const updated = claims.updated_at;
  if (present(updated) && !(typeof updated === "number" && Number.isFinite(updated)) && !(typeof updated === "string" && RFC3339.test(updated))) {
    return "'updated_at' must be a number or an RFC 3339 date-time";
  }
  return undefined;
}

/**
 * customJwt parses the whole JWKS strictly: a key it cannot parse fails every token. Returns why
 * this key would, or undefined (the key material itself is checked by importing it).
 */
export function unsupportedJwkProblem(key: unknown): string | undefined {
  if (!isObject(key)) return "is not an object";
  for (const name of ["kid", "alg", "use"]) {
    if (present(key[name]) && typeof key[name] !== "string") return `'${name}' must be a string`;
  }
  if (key.kty === "RSA") return undefined;
  if (key.kty === "EC") return key.crv === "P-256" ? undefined : `EC curve ${String(key.crv)} is not supported`;
  if (key.kty === "oct") return typeof key.k === "string" ? undefined : "oct key without 'k'";
  return `key type ${String(key.kty)} is not supported`;
}
