// The relying party we are at each upstream, through openid-client: the authorization request
// (code with PKCE, state and nonce), and the callback (code exchange, ID token validation) turned
// into who the person is there. OpenID Connect providers by discovery (cached); GitHub by OAuth 2
// and its REST API (the primary email from /user/emails). No HTTP routes here.
import { importPKCS8, SignJWT } from "jose";
import * as oidc from "openid-client";
import type { Sealer } from "../mail/seal.ts";
import type { UpstreamProvider } from "../store/upstreams.ts";

/** Why an upstream sign-in failed, as the error page tells it. */
export type UpstreamFailure =
  /** The provider sent an error back (the person cancelled, or it refused). */
  | "denied"
  /** The state does not match this browser's sign-in (tampered, replayed, or another tab's). */
  | "state"
  /** The provider could not be reached, or answered with something that is not a provider's answer. */
  | "unreachable"
  /** The answer did not verify: ID token signature, issuer, audience, nonce or expiry. */
  | "invalid";

export class UpstreamError extends Error {
  override name = "UpstreamError";
  readonly reason: UpstreamFailure;
  constructor(reason: UpstreamFailure, detail: string, options?: { cause?: unknown }) {
    super(detail, options);
    this.reason = reason;
  }
}

/** What a sign-in at an upstream proved about the person. */
export type UpstreamClaims = {
  /** The issuer that vouched for the subject (for Entra, the tenant's). */
  issuer: string;
  subject: string;
  email: string | null;
  emailVerified: boolean;
  name: string | null;
  picture: string | null;
  /** The upstream's amr, as it sent it. */
  amr: string[];
};

/** What the callback must match, kept in this browser between the redirect and the callback. */
export type UpstreamExpectation = { state: string; nonce: string; verifier: string };

const TIMEOUT_SECONDS = 10;
/** Discovery documents and keys change rarely; an hour bounds how long a changed one is missed. */
const DISCOVERY_TTL_MS = 3_600_000;

export type UpstreamClientDeps = {
  /** Opens the sealed client secrets (createSealer(cookieKeys, UPSTREAM_SECRET_INFO)). */
  sealer: Sealer;
  /** Our fixed callback, registered at every provider. */
  redirectUri: string;
  /** In production only https upstreams are spoken to. */
  production: boolean;
  now: () => Date;
};

function isNetworkError(error: unknown): boolean {
  const name = (error as { name?: string } | null)?.name;
  return name === "TimeoutError" || name === "AbortError" || (error instanceof TypeError && /fetch failed|network/i.test(error.message));
}

/** openid-client's failures, sorted into what the person is told. */
function classify(error: unknown): UpstreamError {
  if (error instanceof UpstreamError) return error;
  if (error instanceof oidc.AuthorizationResponseError) return new UpstreamError("denied", `the provider answered ${error.error}`, { cause: error });
  if (isNetworkError(error) || isNetworkError((error as { cause?: unknown })?.cause)) return new UpstreamError("unreachable", "the provider could not be reached", { cause: error });
  if (error instanceof oidc.ResponseBodyError) return new UpstreamError("invalid", `the provider refused the code: ${error.error}`, { cause: error });
  const code = (error as { code?: string } | null)?.code;
  // A discovery document that is not one (wrong issuer, not JSON, an error status) is a provider we cannot use now.
  if (code === "OAUTH_RESPONSE_IS_NOT_JSON" || code === "OAUTH_RESPONSE_IS_NOT_CONFORM") return new UpstreamError("unreachable", "the provider's answer is not usable", { cause: error });
  return new UpstreamError("invalid", `the provider's answer did not verify (${code ?? (error as Error)?.message})`, { cause: error });
}

const str = (value: unknown) => (typeof value === "string" && value.length > 0 ? value : null);

export function createUpstreamClient(deps: UpstreamClientDeps) {
  const discovered = new Map<string, { config: oidc.Configuration; expires: number }>();
  const key = (provider: UpstreamProvider) => `${provider.id}|${provider.updatedAt.getTime()}|${provider.issuer}`;

  function secretOf(provider: UpstreamProvider): string | undefined {
    if (!provider.clientSecret) return undefined;
    const secret = deps.sealer.open(provider.clientSecret)?.secret;
    if (typeof secret !== "string") throw new Error(`the secret of upstream ${provider.id} cannot be opened with these cookie keys`);
    return secret;
  }

  const insecure = (provider: UpstreamProvider) => !deps.production && new URL(provider.issuer).protocol === "http:";

  /** Apple's client secret: a short-lived ES256 JWT signed with the key from its developer account. */
  async function appleClientSecret(provider: UpstreamProvider): Promise<string> {
    const key = await importPKCS8(secretOf(provider)!, "ES256");
    const issuedAt = Math.floor(deps.now().getTime() / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg: "ES256", kid: provider.options.keyId })
      .setIssuer(provider.options.teamId!)
      .setSubject(provider.clientId)
      .setAudience("https://appleid.apple.com")
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + 300)
      .sign(key);
  }

  /** The provider's configuration: discovered once an hour (OIDC), or GitHub's documented endpoints. */
  async function configurationFor(provider: UpstreamProvider): Promise<oidc.Configuration> {
    let config: oidc.Configuration;
    if (provider.kind === "github") {
      config = new oidc.Configuration(
        { issuer: provider.issuer, authorization_endpoint: `${provider.issuer}/login/oauth/authorize`, token_endpoint: `${provider.issuer}/login/oauth/access_token` },
        provider.clientId,
        undefined,
        oidc.ClientSecretPost(secretOf(provider)),
      );
    } else {
      const cached = discovered.get(key(provider));
      if (cached && cached.expires > Date.now()) {
        config = cached.config;
      } else {
        const secret = provider.kind === "apple" ? undefined : secretOf(provider);
        config = await oidc.discovery(new URL(provider.issuer), provider.clientId, secret, secret ? oidc.ClientSecretPost(secret) : oidc.None(), {
          execute: insecure(provider) ? [oidc.allowInsecureRequests] : [],
          timeout: TIMEOUT_SECONDS,
        });
        // One entry per provider: a changed provider's old configuration goes.
        for (const cached of discovered.keys()) if (cached.startsWith(`${provider.id}|`)) discovered.delete(cached);
        discovered.set(key(provider), { config, expires: Date.now() + DISCOVERY_TTL_MS });
      }
      if (provider.kind === "apple") {
        // A fresh client secret JWT for each exchange, over the discovered metadata (Entra's
        // issuer handling does not apply to Apple, so rebuilding loses nothing).
        config = new oidc.Configuration(config.serverMetadata(), provider.clientId, undefined, oidc.ClientSecretPost(await appleClientSecret(provider)));
      }
    }
    if (insecure(provider)) oidc.allowInsecureRequests(config);
    config.timeout = TIMEOUT_SECONDS;
    return config;
  }

  /** GitHub's user: its numeric id, profile, and the primary email with whether GitHub verified it. */
  async function githubUser(provider: UpstreamProvider, accessToken: string): Promise<UpstreamClaims> {
    // github.com's API is api.github.com; GitHub Enterprise Server's is <host>/api/v3.
    const api = provider.options.apiBase ?? (provider.issuer === "https://github.com" ? "https://api.github.com" : `${provider.issuer}/api/v3`);
    const get = async (path: string) => {
      const response = await fetch(`${api}${path}`, {
        headers: { authorization: `Bearer ${accessToken}`, accept: "application/vnd.github+json", "user-agent": "convex-idp", "x-github-api-version": "2022-11-28" },
        signal: AbortSignal.timeout(TIMEOUT_SECONDS * 1000),
      });
      if (!response.ok) throw new UpstreamError(response.status >= 500 ? "unreachable" : "invalid", `GitHub's ${path} answered ${response.status}`);
      return response.json() as Promise<unknown>;
    };
    const user = (await get("/user")) as { id?: unknown; login?: unknown; name?: unknown; avatar_url?: unknown };
    if (typeof user.id !== "number" && typeof user.id !== "string") throw new UpstreamError("invalid", "GitHub's /user has no id");
    const emails = (await get("/user/emails")) as Array<{ email?: unknown; primary?: unknown; verified?: unknown }>;
    const primary = Array.isArray(emails) ? emails.find((entry) => entry.primary === true && typeof entry.email === "string") : undefined;
    return {
      issuer: provider.issuer,
      subject: String(user.id),
      email: str(primary?.email),
      emailVerified: primary?.verified === true,
      name: str(user.name) ?? str(user.login),
      picture: str(user.avatar_url),
      amr: [],
    };
  }

  return {
    /** The provider's authorization URL and what its callback must match. */
    async begin(provider: UpstreamProvider, options: { loginHint?: string } = {}): Promise<{ url: URL; expected: UpstreamExpectation }> {
      try {
        const config = await configurationFor(provider);
        const expected = { state: oidc.randomState(), nonce: oidc.randomNonce(), verifier: oidc.randomPKCECodeVerifier() };
        const parameters: Record<string, string> = {
          redirect_uri: deps.redirectUri,
          scope: provider.scopes,
          state: expected.state,
          code_challenge: await oidc.calculatePKCECodeChallenge(expected.verifier),
          code_challenge_method: "S256",
        };
        if (provider.kind !== "github") parameters.nonce = expected.nonce;
        // Apple sends the code (and, the first time, the name) as a form post when email or name is asked for.
        if (provider.kind === "apple") parameters.response_mode = "form_post";
        if (options.loginHint) parameters[provider.kind === "github" ? "login" : "login_hint"] = options.loginHint;
        return { url: oidc.buildAuthorizationUrl(config, parameters), expected };
      } catch (error) {
        throw classify(error);
      }
    },

    /** Completes the sign-in from the callback's parameters; throws UpstreamError. */
    async complete(provider: UpstreamProvider, parameters: URLSearchParams, expected: UpstreamExpectation): Promise<UpstreamClaims> {
      try {
        const config = await configurationFor(provider);
        // openid-client takes the callback URL: our redirect URI with what the provider sent.
        const currentUrl = new URL(deps.redirectUri);
        for (const [name, value] of parameters) currentUrl.searchParams.append(name, value);
        const github = provider.kind === "github";
        const tokens = await oidc.authorizationCodeGrant(config, currentUrl, {
          pkceCodeVerifier: expected.verifier,
          expectedState: expected.state,
          ...(github ? {} : { expectedNonce: expected.nonce, idTokenExpected: true }),
        });
        if (github) return await githubUser(provider, tokens.access_token);
        let claims: Record<string, unknown> & { iss: string; sub: string } = tokens.claims()!;
        // Many providers put the profile in userinfo only (oidc-provider does by default): asked when the ID token lacks it.
        if (claims.email === undefined && config.serverMetadata().userinfo_endpoint) {
          const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
          claims = { ...userinfo, ...claims, email: userinfo.email, email_verified: userinfo.email_verified, name: claims.name ?? userinfo.name, picture: claims.picture ?? userinfo.picture };
        }
        // Apple sends email_verified as the string "true".
        const verified = claims.email_verified === true || claims.email_verified === "true";
        return {
          issuer: claims.iss,
          subject: claims.sub,
          email: str(claims.email),
          emailVerified: verified,
          name: str(claims.name) ?? ([str(claims.given_name), str(claims.family_name)].filter(Boolean).join(" ") || null),
          picture: str(claims.picture),
          amr: Array.isArray(claims.amr) ? claims.amr.filter((value): value is string => typeof value === "string") : [],
        };
      } catch (error) {
        throw classify(error);
      }
    },
  };
}

export type UpstreamClient = ReturnType<typeof createUpstreamClient>;
