// `idp doctor token`: each check Convex runs on a token, one small function per rule, judged against
// this IdP (ISSUER, the JWKS it publishes now, its registered clients). Rules read a decoded token
// and a context and return one PASS/FAIL line; only `signature` does work (it verifies).
import { compactVerify, decodeProtectedHeader, importJWK, type JWK } from "jose";
import {
  CLOCK_LEEWAY_SECONDS,
  NO_PROVIDER_MESSAGE,
  audiences,
  isObject,
  issuerRoutes,
  oidcClaimTypeProblem,
  present,
  registeredClaimTypeProblem,
  type Claims,
} from "./convex-rules.ts";
import { fail, pass, urlMismatch, type RuleResult } from "./report.ts";

/** What the IdP is, as the doctor compares a token with it. */
export type TokenDoctorContext = {
  issuer: string;
  /** Seconds since the epoch, whole (Convex truncates its clock too). */
  now: number;
  /** The public keys the JWKS publishes now. */
  published: JWK[];
  /** Every key in KEYS_DIR by kid, with its status (signing, retired, revoked, ...), to explain an unpublished kid. */
  keyStatus: ReadonlyMap<string, string>;
  clients: ReadonlyArray<{ id: string; service: boolean }>;
  serviceAudience: string;
};

export type DecodedToken = { token: string; header: Record<string, unknown>; claims: Claims };

/** The token's header and payload, unverified; a reason when it is not a compact JWS with JSON parts. */
export function decodeToken(token: string): { decoded: DecodedToken } | { problem: string } {
  const parts = token.split(".");
  if (parts.length !== 3) return { problem: `a JWT has three dot-separated parts, this has ${parts.length}` };
  let header: Record<string, unknown>;
  try {
    header = decodeProtectedHeader(token) as Record<string, unknown>;
  } catch (error) {
    return { problem: `the header is not base64url JSON (${(error as Error).message})` };
  }
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8"));
  } catch {
    return { problem: "the payload is not base64url JSON" };
  }
  if (!isObject(claims)) return { problem: "the payload is not a JSON object" };
  return { decoded: { token, header, claims } };
}

type Rule = (token: DecodedToken, ctx: TokenDoctorContext) => RuleResult | Promise<RuleResult>;

const GET_NEW_TOKEN = "sign in again (or fetch a new service token) from this IdP";

export const algRule: Rule = ({ header }) =>
  header.alg === "RS256"
    ? pass("alg", "RS256, as this IdP signs and auth.config.ts says (algorithm: \"RS256\")")
    : fail("alg", `the header says alg ${JSON.stringify(header.alg)}, Convex's provider entry says RS256`, `this IdP signs only RS256: the token was made elsewhere; ${GET_NEW_TOKEN}`);

export const kidRule: Rule = ({ header }) =>
  typeof header.kid === "string" && header.kid !== ""
    ? pass("kid", `${header.kid}`)
    : fail("kid", "the header has no kid, and Convex's customJwt form finds the key by kid only", `use a token this IdP signed (it always sets kid); ${GET_NEW_TOKEN}`);

export const jwksKeyRule: Rule = ({ header }, ctx) => {
  const kid = header.kid;
  if (typeof kid !== "string") return fail("jwks-key", "no kid to look up", "see kid above");
  if (ctx.published.some((key) => key.kid === kid)) return pass("jwks-key", `key ${kid} is in the JWKS this IdP publishes now`);
  const status = ctx.keyStatus.get(kid);
  if (status === "retired") return fail("jwks-key", `key ${kid} has retired and is no longer published: every token it signed has expired`, GET_NEW_TOKEN);
  if (status === "revoked") return fail("jwks-key", `key ${kid} was revoked (\`idp keys rotate --immediate --revoke-current\`)`, GET_NEW_TOKEN);
  return fail(
    "jwks-key",
    `no key ${kid} in KEYS_DIR or in the JWKS (published: ${ctx.published.map((key) => key.kid).join(", ") || "none"})`,
    `the token comes from another IdP or another KEYS_DIR: run the doctor with the server's KEYS_DIR, or ${GET_NEW_TOKEN}`,
  );
};

const RSA_ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];

/** Verifies with the key the kid names, else with each published key, so a wrong kid and a wrong signature are told apart. */
export const signatureRule: Rule = async ({ token, header }, ctx) => {
  const alg = typeof header.alg === "string" && RSA_ALGS.includes(header.alg) ? header.alg : undefined;
  if (!alg) return fail("signature", `cannot verify alg ${JSON.stringify(header.alg)} with this IdP's RSA keys`, `see alg above; ${GET_NEW_TOKEN}`);
  const verifies = async (jwk: JWK) => {
    try {
      await compactVerify(token, await importJWK({ kty: jwk.kty, n: jwk.n, e: jwk.e }, alg));
      return true;
    } catch {
      return false;
    }
  };
  const named = ctx.published.find((key) => key.kid === header.kid);
  if (named) {
    return (await verifies(named))
      ? pass("signature", `verified with key ${named.kid}`)
      : fail("signature", `does not verify with key ${named.kid}: the token was altered, or signed by a foreign key under this kid`, `use the token exactly as the IdP issued it; ${GET_NEW_TOKEN}`);
  }
  for (const key of ctx.published) {
    if (await verifies(key)) return pass("signature", `verified with published key ${key.kid} (though the header names another kid: see jwks-key)`);
  }
  return fail("signature", "verifies with no key this IdP publishes", `the token was not signed by this IdP's keys; ${GET_NEW_TOKEN}`);
};

export const issRule: Rule = ({ claims }, ctx) => {
  const iss = claims.iss;
  if (!present(iss)) return fail("iss", "the token has no iss: Convex refuses it before looking at providers", `use a token this IdP issued; ${GET_NEW_TOKEN}`);
  if (typeof iss !== "string") return fail("iss", "iss is not a string: Convex refuses the token", GET_NEW_TOKEN);
  if (iss === ctx.issuer) return pass("iss", `${iss}, byte for byte ISSUER`);
  const why = urlMismatch(iss, ctx.issuer) ?? `it is not ISSUER (${ctx.issuer})`;
  const routes = issuerRoutes(iss, ctx.issuer);
  const forms = routes
    ? "the customJwt form forgives this (routing trims a trailing '/'), the OIDC form does not (discovery's issuer must equal iss byte for byte), and tokenIdentifier would hold this other string"
    : `no auth.config.ts entry for ISSUER matches it: Convex says "${NO_PROVIDER_MESSAGE}"`;
  return fail(
    "iss",
    `iss is ${JSON.stringify(iss)}: ${why}; ${forms}`,
    "the token was issued under another ISSUER: run the doctor with the server's ISSUER, or set the server's ISSUER to the public URL Convex's IDP_ISSUER holds and sign in again",
  );
};

/** Who an audience is: a client people sign in to, a service client, the service audience, or nobody. */
function describeAudience(aud: string, ctx: TokenDoctorContext): "client" | "service-client" | "service-audience" | undefined {
  if (aud === ctx.serviceAudience) return "service-audience";
  const client = ctx.clients.find((candidate) => candidate.id === aud);
  if (!client) return undefined;
  return client.service ? "service-client" : "client";
}

export const audRule: Rule = ({ claims }, ctx) => {
  const aud = claims.aud;
  if (!present(aud)) return fail("aud", "the token has no aud: no provider entry with an applicationID matches", GET_NEW_TOKEN);
  const typeProblem = registeredClaimTypeProblem(claims, ["aud"]);
  if (typeProblem) return fail("aud", `${typeProblem}: Convex refuses the token`, GET_NEW_TOKEN);
  const auds = audiences(claims);
  const accepted = auds.filter((entry) => {
    const kind = describeAudience(entry, ctx);
    return kind === "client" || kind === "service-audience";
  });
  if (accepted.length === 0) {
    const serviceClient = auds.find((entry) => describeAudience(entry, ctx) === "service-client");
    if (serviceClient) {
      return fail("aud", `aud ${serviceClient} is a service client: ID tokens are issued to apps people sign in to, service tokens carry the service audience ${ctx.serviceAudience}`, "request the service token with client_credentials (its aud is SERVICE_TOKEN_AUDIENCE), or sign in through the app's client");
    }
    return fail(
      "aud",
      `${JSON.stringify(aud)} is neither a registered client nor the service audience ${ctx.serviceAudience}`,
      "register the app (`idp clients add --id <aud> ...`) and set IDP_CLIENT_ID on the deployment to it, or sign in through a client this IdP knows",
    );
  }
  const extra = auds.filter((entry) => !accepted.includes(entry));
  const kinds = accepted.map((entry) => `${entry} (${describeAudience(entry, ctx) === "client" ? "a registered client" : "the service audience"})`);
  return pass("aud", `${kinds.join(", ")}${extra.length ? `; extra audiences ${extra.join(", ")} pass the customJwt form, the OIDC form would refuse them` : ""}`);
};

const when = (seconds: number) => new Date(seconds * 1000).toISOString();

export const expRule: Rule = ({ claims }, ctx) => {
  const exp = claims.exp;
  if (!present(exp)) return fail("exp", "the token has no exp, which Convex requires", GET_NEW_TOKEN);
  if (!Number.isInteger(exp)) return fail("exp", "exp must be an integer number of seconds (not a string): Convex refuses the token", GET_NEW_TOKEN);
  const late = ctx.now - (exp as number);
  if (late > CLOCK_LEEWAY_SECONDS) {
    return fail("exp", `expired ${late} s ago (${when(exp as number)}); Convex allows ${CLOCK_LEEWAY_SECONDS} s`, "the client must fetch a fresh token (convex-js calls fetchAccessToken with forceRefreshToken: true); if the token is new, the clocks of the IdP and Convex differ: sync them");
  }
  return pass("exp", late > 0 ? `expired ${late} s ago, within Convex's ${CLOCK_LEEWAY_SECONDS} s leeway (the OIDC form has none)` : `expires in ${-late} s (${when(exp as number)})`);
};

export const iatRule: Rule = ({ claims }, ctx) => {
  const iat = claims.iat;
  if (!present(iat)) return fail("iat", "the token has no iat: convex-js schedules refreshes from exp - iat, and the OIDC form requires it", GET_NEW_TOKEN);
  if (!Number.isInteger(iat)) return fail("iat", "iat must be an integer number of seconds (not a string): Convex refuses the token", GET_NEW_TOKEN);
  const ahead = (iat as number) - ctx.now;
  if (ahead > CLOCK_LEEWAY_SECONDS) {
    return fail("iat", `issued ${ahead} s in the future (${when(iat as number)}); Convex allows ${CLOCK_LEEWAY_SECONDS} s`, "the IdP's clock is ahead of Convex's: sync both with NTP");
  }
  if (Number.isInteger(claims.exp) && (claims.exp as number) - (iat as number) <= 2) {
    return fail("iat", `the token lives ${(claims.exp as number) - (iat as number)} s (exp - iat): convex-js needs more than 2 s to schedule its refresh`, "raise ID_TOKEN_TTL or SERVICE_TOKEN_TTL");
  }
  return pass("iat", `issued ${-ahead} s ago (${when(iat as number)}), lifetime ${Number.isInteger(claims.exp) ? `${(claims.exp as number) - (iat as number)} s` : "unknown"}`);
};

export const nbfRule: Rule = ({ claims }, ctx) => {
  const nbf = claims.nbf;
  if (!present(nbf)) return pass("nbf", "absent");
  if (!Number.isInteger(nbf)) return fail("nbf", "nbf must be an integer number of seconds: Convex refuses the token", GET_NEW_TOKEN);
  const ahead = (nbf as number) - ctx.now;
  if (ahead > CLOCK_LEEWAY_SECONDS) return fail("nbf", `not valid for another ${ahead} s; Convex allows ${CLOCK_LEEWAY_SECONDS} s`, "the IdP's clock is ahead of Convex's: sync both with NTP");
  return pass("nbf", `valid since ${when(nbf as number)}`);
};

export const subRule: Rule = ({ claims }) => {
  const sub = claims.sub;
  if (typeof sub === "string" && sub !== "") return pass("sub", `${sub} (tokenIdentifier ${String(claims.iss)}|${sub})`);
  return fail("sub", present(sub) ? "sub must be a non-empty string" : "the token has no sub, which Convex requires", GET_NEW_TOKEN);
};

/** The claims without a line of their own: jti's registered type, and the OIDC form's typed standard claims. */
export const claimTypesRule: Rule = ({ claims }) => {
  const problem = registeredClaimTypeProblem(claims, ["jti"]) ?? oidcClaimTypeProblem(claims);
  if (problem) {
    return fail("claim-types", `${problem}: the OIDC form refuses the token, and functions reading it get the wrong type`, "a token from this IdP has standard types: this one was made elsewhere or altered");
  }
  return pass("claim-types", "standard claims have the types Convex expects");
};

/** Which entry of convex/auth.config.ts (as `idp convex config` prints it) takes the token, and whether the OIDC form would. */
export const authConfigRule: Rule = ({ header, claims }, ctx) => {
  const iss = typeof claims.iss === "string" ? claims.iss : undefined;
  const auds = audiences(claims);
  const entry = (aud: string) => {
    const kind = describeAudience(aud, ctx);
    if (kind === "client") return `the first customJwt entry (applicationID: process.env.IDP_CLIENT_ID, set to ${aud})`;
    if (kind === "service-audience") return `the second customJwt entry (applicationID: process.env.IDP_SERVICE_AUDIENCE, set to ${aud})`;
    return undefined;
  };
  const taker = iss && issuerRoutes(iss, ctx.issuer) ? auds.map(entry).find(Boolean) : undefined;
  if (!taker) {
    return fail("auth-config", `no entry of auth.config.ts for this IdP takes it: Convex says "${NO_PROVIDER_MESSAGE}"`, "see iss and aud above");
  }
  const oidcRefusals = [
    iss !== ctx.issuer && "iss differs from discovery's issuer",
    auds.length !== 1 && "it has more than one audience",
    present(header.typ) && String(header.typ).toUpperCase() !== "JWT" && `typ ${String(header.typ)} is not JWT`,
  ].filter(Boolean);
  const oidc = oidcRefusals.length ? `the OIDC form ({ domain, applicationID }) would refuse it: ${oidcRefusals.join(", ")}` : "the OIDC form ({ domain, applicationID }) would take it too";
  return pass("auth-config", `${taker} takes it; ${oidc}`);
};

/** Every rule, in the order the report prints them. */
export const TOKEN_RULES: readonly Rule[] = [algRule, kidRule, jwksKeyRule, signatureRule, issRule, audRule, expRule, iatRule, nbfRule, subRule, claimTypesRule, authConfigRule];

/** The whole report for a token string: one "decode" failure when it is not a JWT, else every rule. */
export async function diagnoseToken(token: string, ctx: TokenDoctorContext): Promise<RuleResult[]> {
  const result = decodeToken(token.trim());
  if ("problem" in result) return [fail("decode", result.problem, "pass the token itself (the id_token or access_token string), or - to read it from stdin")];
  const decoded = result.decoded;
  return Promise.all(TOKEN_RULES.map((rule) => rule(decoded, ctx)));
}
