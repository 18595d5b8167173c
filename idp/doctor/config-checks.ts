// `idp doctor config`: discovery and the JWKS fetched as the Convex backend fetches them, and a
// Convex auth.config.ts compared with this IdP. Fetching is one function; every check is a small
// pure function over what was fetched or parsed, returning one PASS/FAIL line.
import { importJWK, type JWK } from "jose";
import type { ConfigValue, ParsedProvider } from "./auth-config-file.ts";
import { isObject, strictJsonContentType, unsupportedJwkProblem } from "./convex-rules.ts";
import { fail, pass, urlMismatch, type RuleResult } from "./report.ts";

/** An HTTP answer as the checks need it; `error` when the request itself failed. */
export type Fetched = { url: string; status?: number; contentType: string | null; cacheControl: string | null; body?: unknown; error?: string };

/** GETs a URL as Convex does (Accept: application/json), never throwing: a failure is part of the answer. */
export async function fetchForDoctor(url: string, fetchFn: typeof fetch = fetch): Promise<Fetched> {
  try {
    const response = await fetchFn(url, { headers: { accept: "application/json" }, redirect: "manual", signal: AbortSignal.timeout(10_000) });
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { url, status: response.status, contentType: response.headers.get("content-type"), cacheControl: response.headers.get("cache-control"), body };
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return { url, contentType: null, cacheControl: null, error: cause?.code ?? cause?.message ?? (error as Error).message };
  }
}

const unreachable = (what: string, fetched: Fetched) =>
  fetched.error !== undefined
    ? `${what} ${fetched.url} cannot be fetched (${fetched.error})`
    : `${what} ${fetched.url} answered HTTP ${fetched.status}${fetched.status && fetched.status >= 300 && fetched.status < 400 ? " (a redirect: Convex wants 200 at this very URL)" : ""}`;

export function discoveryCheck(fetched: Fetched, issuer: string): RuleResult {
  if (fetched.status !== 200) {
    return fail("discovery", unreachable("discovery", fetched), "start the IdP and make ISSUER the URL it is reached at (behind a proxy, TRUST_PROXY=true); the OIDC form runs discovery from the token's iss");
  }
  if (!isObject(fetched.body)) return fail("discovery", "discovery is not a JSON object", "is ISSUER this IdP's URL, and not another server's?");
  const found = fetched.body.issuer;
  if (found !== issuer) {
    return fail("discovery", `discovery's issuer is ${JSON.stringify(found)}, not ISSUER ${issuer} byte for byte`, "the server runs with another ISSUER than this command: give both the same");
  }
  if (typeof fetched.body.jwks_uri !== "string") return fail("discovery", "discovery has no jwks_uri", "a server of this project always publishes one: is ISSUER this IdP?");
  return pass("discovery", `${fetched.url}: issuer ${found} byte for byte, jwks_uri ${fetched.body.jwks_uri}`);
}

export function jwksFetchCheck(fetched: Fetched): RuleResult {
  if (fetched.status === 200 && isObject(fetched.body)) return pass("jwks-fetch", `${fetched.url} answered 200 with JSON`);
  if (fetched.status === 200) return fail("jwks-fetch", `${fetched.url} answered 200 but not with JSON`, "point the JWKS URL at the IdP's ${ISSUER}/jwks");
  return fail("jwks-fetch", unreachable("the JWKS", fetched), "the Convex backend must reach this URL: inside docker compose use the internal address (--jwks-url http://idp:3000/oidc/jwks, IDP_JWKS_URL on the deployment)");
}

export function jwksContentTypeCheck(fetched: Fetched): RuleResult {
  if (strictJsonContentType(fetched.contentType)) return pass("jwks-content-type", `${fetched.contentType}`);
  return fail(
    "jwks-content-type",
    `Content-Type is ${JSON.stringify(fetched.contentType)}; the customJwt form needs application/json or application/jwk-set+json (charset absent or utf-8), else every token fails`,
    "serve the IdP's own /jwks; a proxy in front must not rewrite its Content-Type",
  );
}

/** Seconds of max-age in a Cache-Control header, or undefined. */
export function maxAge(cacheControl: string | null): number | undefined {
  const match = /(?:^|,)\s*(?:s-)?max-age\s*=\s*"?(\d+)"?/i.exec(cacheControl ?? "");
  return match ? Number(match[1]) : undefined;
}

export function jwksCacheCheck(fetched: Fetched, expectedMaxAge: number): RuleResult {
  const seconds = maxAge(fetched.cacheControl);
  if (seconds === undefined || /no-store|no-cache/i.test(fetched.cacheControl ?? "")) {
    return fail("jwks-cache", `Cache-Control is ${JSON.stringify(fetched.cacheControl)}: Convex's HTTP cache needs an explicit max-age to know how long a key set stays`, "serve the IdP's own /jwks; a proxy in front must keep its Cache-Control");
  }
  if (seconds > expectedMaxAge) {
    return fail("jwks-cache", `max-age ${seconds} s is longer than JWKS_MAX_AGE (${expectedMaxAge} s): a rotated key may sign before Convex has seen it`, "let the proxy pass the IdP's Cache-Control through, or raise JWKS_MAX_AGE to match it");
  }
  return pass("jwks-cache", `max-age ${seconds} s: Convex sees a new key within that; a rotation publishes keys at least this long before they sign`);
}

/** Every key parseable by Convex (one that is not fails every token), RSA for RS256, with a kid. */
export async function jwksKeysCheck(fetched: Fetched): Promise<RuleResult> {
  const keys = isObject(fetched.body) && Array.isArray(fetched.body.keys) ? (fetched.body.keys as unknown[]) : undefined;
  if (!keys) return fail("jwks-keys", "the JWKS has no keys array", "see jwks-fetch above");
  if (keys.length === 0) return fail("jwks-keys", "the JWKS is empty: no token verifies", "create a key with `idp keys generate` (KEYS_DIR as the server's)");
  for (const [index, key] of keys.entries()) {
    const problem = unsupportedJwkProblem(key);
    if (problem) return fail("jwks-keys", `key ${index} ${problem}: Convex parses the whole set, so every token fails`, "publish RSA keys only (serve the IdP's own /jwks)");
    const jwk = key as JWK;
    if (typeof jwk.kid !== "string") return fail("jwks-keys", `key ${index} has no kid: Convex finds keys by kid`, "serve the IdP's own /jwks");
    if (jwk.kty !== "RSA" || (jwk.alg !== undefined && jwk.alg !== "RS256")) {
      return fail("jwks-keys", `key ${jwk.kid} is ${jwk.kty}${jwk.alg ? `/${jwk.alg}` : ""}, not an RSA key for RS256`, "publish RSA keys only (serve the IdP's own /jwks)");
    }
    try {
      await importJWK({ kty: "RSA", n: jwk.n, e: jwk.e }, "RS256");
    } catch (error) {
      return fail("jwks-keys", `key ${jwk.kid} cannot be parsed (${(error as Error).message})`, "serve the IdP's own /jwks");
    }
  }
  return pass("jwks-keys", `${keys.length} RSA key(s): ${keys.map((key) => (key as JWK).kid).join(", ")}`);
}

/** The key this IdP signs with now (from KEYS_DIR) must be in the JWKS Convex fetches. */
export function jwksSigningKeyCheck(fetched: Fetched, signingKid: string | undefined): RuleResult {
  if (!signingKid) return fail("jwks-signing-key", "KEYS_DIR has no key that signs now", "run with the server's KEYS_DIR, or create a key with `idp keys generate`");
  const kids = isObject(fetched.body) && Array.isArray(fetched.body.keys) ? fetched.body.keys.map((key) => (isObject(key) ? key.kid : undefined)) : [];
  if (kids.includes(signingKid)) return pass("jwks-signing-key", `key ${signingKid}, which signs now, is published`);
  return fail("jwks-signing-key", `key ${signingKid}, which signs now in KEYS_DIR, is not in the fetched JWKS`, "the URL reaches another IdP, or this command runs with another KEYS_DIR than the server: give both the same");
}

/** What auth.config.ts should hold, for comparing. */
export type ExpectedProvider = {
  issuer: string;
  /** The JWKS URLs that answered like this IdP's (its ${ISSUER}/jwks, and --jwks-url). */
  jwksUrls: string[];
  /** Registered clients people sign in to. */
  clientIds: string[];
  serviceAudience: string;
};

/** A value from auth.config.ts: its string (from --env for process.env.NAME), or why it cannot be compared. */
function resolve(value: ConfigValue, env: Readonly<Record<string, string>>): { value: string; source: string } | { unknown: string } {
  if (value.kind === "string") return { value: value.value, source: "" };
  if (value.kind === "env") {
    const given = env[value.name] ?? value.fallback;
    if (given !== undefined) return { value: given, source: ` (process.env.${value.name}${env[value.name] === undefined ? ", its default" : ""})` };
    return { unknown: value.name };
  }
  return { unknown: "" };
}

type FieldCheck = (provider: ParsedProvider, index: number, expected: ExpectedProvider, env: Readonly<Record<string, string>>) => RuleResult;

const isCustomJwt = (provider: ParsedProvider) => provider.type?.kind === "string" && provider.type.value === "customJwt";

/** A field compared with what the IdP expects; process.env.NAME without --env says what the deployment must hold. */
function compareField(
  rule: string,
  value: ConfigValue | undefined,
  env: Readonly<Record<string, string>>,
  expected: string[],
  describe: (actual: string) => { message: string; fix: string },
): RuleResult {
  if (!value) return fail(rule, "missing", `add it: ${expected[0]}`);
  const resolved = resolve(value, env);
  if ("unknown" in resolved) {
    if (value.kind === "env") return pass(rule, `reads process.env.${value.name}: the deployment must have it set to ${expected.join(" or ")} (npx convex env set ${value.name} ...; pass --env ${value.name}=VALUE to check the value)`);
    return fail(rule, `${(value as { text: string }).text} is computed, and the doctor does not run code`, `write a string or process.env.NAME, or check it by hand against ${expected.join(" or ")}`);
  }
  if (expected.includes(resolved.value)) return pass(rule, `${resolved.value}${resolved.source}`);
  const { message, fix } = describe(resolved.value);
  return fail(rule, `${JSON.stringify(resolved.value)}${resolved.source}: ${message}`, fix);
}

export const issuerCheck: FieldCheck = (provider, index, expected, env) => {
  const field = isCustomJwt(provider) ? "issuer" : "domain";
  return compareField(`provider[${index}].${field}`, provider[field], env, [expected.issuer], (actual) => {
    const why = urlMismatch(actual, expected.issuer);
    const routes = why?.includes("trailing '/'")
      ? "Convex's routing trims a trailing '/' so tokens still match, but write it exactly: it is what you compare tokenIdentifier with"
      : `tokens carry iss ${expected.issuer}, so Convex says "No auth provider found matching the given token"`;
    return { message: `${why ?? `it is not ISSUER ${expected.issuer}`}; ${routes}`, fix: `set it to ${expected.issuer} exactly` };
  });
};

export const jwksCheck: FieldCheck = (provider, index, expected, env) => {
  const rule = `provider[${index}].jwks`;
  if (!isCustomJwt(provider)) return pass(rule, "the OIDC form takes jwks_uri from discovery");
  const value = provider.jwks;
  if (value?.kind === "string" && /^data:/i.test(value.value)) {
    return fail(rule, "a data: URI freezes today's keys into the config: the next key rotation breaks every token", `use the URL ${expected.jwksUrls[0]}`);
  }
  return compareField(rule, value, env, expected.jwksUrls, (actual) => {
    const why = urlMismatch(actual, expected.jwksUrls[0]!) ?? `it is not ${expected.jwksUrls.join(" or ")}`;
    return { message: `${why}; Convex fetches keys from it`, fix: `set it to ${expected.jwksUrls.join(" or ")}, an address the Convex backend reaches (pass --jwks-url to check an internal one)` };
  });
};

export const applicationIdCheck: FieldCheck = (provider, index, expected, env) => {
  const rule = `provider[${index}].applicationID`;
  if (!provider.applicationID) {
    return fail(rule, "missing: without it Convex never checks aud, so a token this IdP issued to any client is accepted", `add applicationID: process.env.IDP_CLIENT_ID (a registered client${expected.clientIds.length ? `: ${expected.clientIds.join(", ")}` : ""}) or the service audience ${expected.serviceAudience}`);
  }
  const accepted = [...expected.clientIds, expected.serviceAudience];
  return compareField(rule, provider.applicationID, env, accepted, () => ({
    message: "neither a registered client nor the service audience: no token of this IdP carries it as aud",
    fix: `register the client (\`idp clients add --id ...\`) or set it to one of ${accepted.join(", ")}`,
  }));
};

export const algorithmCheck: FieldCheck = (provider, index, _expected, env) => {
  const rule = `provider[${index}].algorithm`;
  if (!isCustomJwt(provider)) return pass(rule, "the OIDC form takes RS256 from the key");
  if (!provider.algorithm) return fail(rule, "missing: the customJwt form requires it", 'add algorithm: "RS256"');
  return compareField(rule, provider.algorithm, env, ["RS256"], () => ({ message: "this IdP signs RS256 only: every token fails", fix: 'set algorithm: "RS256"' }));
};

export const typeCheck: FieldCheck = (provider, index) => {
  const rule = `provider[${index}].type`;
  if (isCustomJwt(provider)) return pass(rule, "customJwt");
  if (!provider.type && provider.domain) return pass(rule, "the OIDC form ({ domain, applicationID }): needs discovery reachable at ISSUER from the Convex backend");
  const written = provider.type?.kind === "string" ? provider.type.value : provider.type?.kind === "env" ? `process.env.${provider.type.name}` : "absent";
  return fail(rule, `type ${written} is neither customJwt nor the OIDC form`, 'write type: "customJwt" (see convex/auth.config.ts)');
};

/** Every line for one auth.config.ts: each provider's type, issuer, jwks, applicationID and algorithm. */
export function authConfigChecks(providers: ParsedProvider[], expected: ExpectedProvider, env: Readonly<Record<string, string>>): RuleResult[] {
  if (providers.length === 0) return [fail("providers", "auth.config.ts has no providers: Convex accepts no token", "copy convex/auth.config.ts (`idp convex config --client ID` prints it)")];
  return providers.flatMap((provider, index) => {
    const type = typeCheck(provider, index, expected, env);
    // Of a provider Convex cannot read, the fields mean nothing.
    if (!type.ok) return [type];
    return [type, ...[issuerCheck, jwksCheck, applicationIdCheck, algorithmCheck].map((check) => check(provider, index, expected, env))];
  });
}
