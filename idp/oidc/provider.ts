// The oidc-provider instance: which endpoints exist, which flows and algorithms are allowed, token
// lifetimes, and the pages it renders itself (logout, errors).
import Provider, { errors, type Configuration, type KoaContextWithOIDC } from "oidc-provider";
import { acrValues } from "../accounts/authentication-methods.ts";
import type { Config } from "../config.ts";
import { clientSecretMatches } from "../accounts/client-secrets.ts";
import type { KeyMaterial } from "../keys/key-material.ts";
import { providerJwks } from "../keys/signing-keys.ts";
import type { Adapter } from "oidc-provider";
import { trusted } from "../pages/html.ts";
import type { View, Views } from "../pages/layout.ts";
import { signedOutPage, signOutPage } from "../pages/sign-out.ts";
import { IdpError, idpErrors } from "../errors.ts";
import { fromOAuth, type ErrorFormat, type ErrorResponses } from "../http/error-responses.ts";
import { createFindAccount, scopeClaims } from "./account.ts";
import { grantAllServiceScopesByDefault, serviceTokenFeatures } from "./service-tokens.ts";
import { tokenUnitOfWorkMiddleware, type PendingWrite } from "./token-unit-of-work.ts";
import { isDatabaseUnavailable } from "../db/availability.ts";
import { createLogoutWithoutPrompt, nameSessionsInIdTokens } from "./logout-without-prompt.ts";
import { staleLogoutConfirmation } from "./stale-logout.ts";
import type { UserStore } from "../store/users.ts";
import { installNativeRedirectMatching } from "./native-redirects.ts";
import { interactionPolicyFor, type SessionLevelPolicy } from "./acr-values.ts";
import { deviceFlowFeature, enforceDevicePollInterval, prefillCodeFromLink } from "./device-flow.ts";

export type ProviderDeps = {
  config: Config;
  keys: KeyMaterial;
  adapter: new (model: string) => Adapter;
  users: UserStore;
  /** Commits a token request's consumes and saves in one transaction (see token-unit-of-work.ts). */
  commitTokenWrites: (writes: PendingWrite[]) => Promise<void>;
  /** The pages' language and brand, for the sign-out pages. */
  views: Views;
  /** Renders every error the provider answers with. */
  errorResponses: ErrorResponses;
  /** The clock (an id_token_hint's expiry is judged by it); defaults to the system's. */
  now?: () => Date;
  /** Counts a device's poll of the token endpoint; true when it came sooner than the interval (slow_down). None: never. */
  devicePollTooSoon?: (subject: string, intervalSeconds: number) => Promise<boolean>;
  /** Clients built into the IdP (its own pages' sign-in, http/idp-session.ts): found before the clients table. */
  builtInClients?: Configuration["clients"];
  /** The MFA policy for an existing session (acr-values.ts); none: only acr_values is checked. */
  requiredLevel?: SessionLevelPolicy;
};

/** The view of a provider request: end_session and authorization take `ui_locales`. */
function viewOf(views: Views, ctx: KoaContextWithOIDC): View {
  const params = ctx.oidc?.params as Record<string, unknown> | undefined;
  return views.forRequest({ uiLocales: params?.ui_locales, acceptLanguage: ctx.get("accept-language") });
}

/** A browser navigating gets a page; API callers (and anything posted) get JSON. */
function errorFormat(ctx: KoaContextWithOIDC): ErrorFormat {
  return ctx.method === "GET" && ctx.accepts("json", "html") === "html" ? "html" : "json";
}

function isOAuthErrorBody(body: unknown): body is { error: string; error_description?: string } {
  return typeof body === "object" && body !== null && typeof (body as { error?: unknown }).error === "string";
}

export function interactionPath(uid: string): string {
  return `/interaction/${uid}`;
}

/**
 * Everything about the provider that does not involve our storage or pages: endpoints, flows,
 * algorithms, claims, lifetimes, refresh rotation, service tokens. The benchmark's bare
 * oidc-provider is built from this too, so the baseline cannot drift from what we run.
 */
export function baseConfiguration(input: {
  config: Config;
  keys: Pick<KeyMaterial, "signingKeys" | "cookieKeys">;
  findAccount: Configuration["findAccount"];
}): Configuration & { features: NonNullable<Configuration["features"]> } {
  const { config, keys } = input;
  const serviceTokens = serviceTokenFeatures(config);
  return {
    findAccount: input.findAccount,
    jwks: providerJwks(keys.signingKeys) as Configuration["jwks"],
    // Stated rather than left to the defaults. Secure is added per request when it came over https
    // (provider.proxy = TRUST_PROXY makes X-Forwarded-Proto count); forcing it would make the
    // cookies library refuse to set them on a plain-http request.
    cookies: {
      keys: keys.cookieKeys,
      long: { httpOnly: true, sameSite: "lax", signed: true },
      short: { httpOnly: true, sameSite: "lax", signed: true },
    },
    scopes: ["openid", "offline_access", "email", "profile", "phone"],
    // The levels a sign-in can reach (accounts/authentication-methods.ts); every ID token carries one.
    acrValues: acrValues(config.issuer),
    claims: { ...scopeClaims } as unknown as Configuration["claims"],
    conformIdTokenClaims: false,
    responseTypes: ["code"],
    clientAuthMethods: ["client_secret_basic", "client_secret_post", "none"],
    enabledJWA: { idTokenSigningAlgValues: ["RS256"], userinfoSigningAlgValues: ["RS256"] },
    extraClientMetadata: { properties: ["first_party", "service", "roles_claim", "service_scopes"] },
    extraTokenClaims: serviceTokens.extraTokenClaims as Configuration["extraTokenClaims"],
    // Browsers may call the token endpoint only from the origin of one of a public client's redirect URIs.
    clientBasedCORS(_ctx, origin, client) {
      if (client.clientAuthMethod !== "none" && _ctx.oidc.route !== "userinfo") return false;
      return client.redirectUris?.some((uri) => URL.parse(uri)?.origin === origin) ?? false;
    },
    // RFC 9700 2.1.1: public clients must, confidential ones should (here: must, unless turned off).
    pkce: { required: (_ctx, client) => config.confidentialClientsRequirePkce || client.clientAuthMethod === "none" },
    features: {
      ...(serviceTokens.features as Configuration["features"]),
      devInteractions: { enabled: false },
      revocation: {
        enabled: true,
        // A client revokes only its own tokens; a public client asking about another's is told nothing.
        async allowedPolicy(_ctx, client, token) {
          if (token.clientId === client.clientId) return true;
          if (client.clientAuthMethod === "none") return false;
          throw new errors.InvalidRequest("client is not authorized to revoke the presented token");
        },
      },
      userinfo: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    rotateRefreshToken: true,
    // offline_access needs prompt=consent (OIDC Core 11). First-party clients also get a refresh
    // token without it, one that ends with the IdP session: a Convex app must keep its ID token fresh.
    async issueRefreshToken(_ctx, client, code) {
      if (!client.grantTypeAllowed("refresh_token")) return false;
      return code.scopes.has("offline_access") || client.metadata().first_party === true;
    },
    ttl: {
      AccessToken: config.accessTokenTtlSeconds,
      AuthorizationCode: config.authorizationCodeTtlSeconds,
      IdToken: config.idTokenTtlSeconds,
      RefreshToken: config.refreshTokenTtlSeconds,
      Session: config.sessionTtlSeconds,
      Interaction: config.interactionTtlSeconds,
      Grant: config.grantTtlSeconds,
      DeviceCode: config.deviceCodeTtlSeconds,
    },
  };
}

export function createProvider({ config, keys, adapter, users, commitTokenWrites, views, errorResponses, now = () => new Date(), devicePollTooSoon, builtInClients, requiredLevel }: ProviderDeps): Provider {
  const base = baseConfiguration({ config, keys, findAccount: createFindAccount(users) });
  const endSessionWithoutPrompt = createLogoutWithoutPrompt(now);
  const configuration: Configuration = {
    ...base,
    adapter,
    clients: builtInClients,
    features: {
      ...base.features,
      // Command-line tools and devices (RFC 8628): `idp clients add --device`; the pages are ours.
      deviceFlow: deviceFlowFeature((ctx) => viewOf(views, ctx)),
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          // A valid id_token_hint for this session and client signs out at once (logout-without-prompt.ts).
          if (await endSessionWithoutPrompt(ctx)) return;
          ctx.type = "html";
          ctx.body = signOutPage(viewOf(views, ctx), trusted(form), ctx.oidc.client?.clientName);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.type = "html";
          ctx.body = signedOutPage(viewOf(views, ctx), ctx.oidc.client?.clientName);
        },
      },
    },
    // acr_values, or the MFA policy, asking for more than the session reached prompts for a login (acr-values.ts).
    interactions: { url: (_ctx, interaction) => interactionPath(interaction.uid), policy: interactionPolicyFor(config.issuer, requiredLevel) },
    async renderError(ctx, out, error) {
      // A sign-out confirmed after the session already ended (another tab), or after a newer sign-out page.
      const stale = staleLogoutConfirmation(ctx, error);
      if (stale === "signed_out") {
        // Not an error: whoever confirmed wanted to be signed out, and is.
        ctx.status = 200;
        ctx.type = "html";
        ctx.body = signedOutPage(viewOf(views, ctx), undefined);
        return;
      }
      const refused = stale === "superseded" ? idpErrors.signOutExpired() : error instanceof Error ? error : fromOAuth(ctx.status, out.error, out.error_description);
      errorResponses.setOnKoa(ctx, refused, "html");
    },
  };

  const provider = new Provider(config.issuer, configuration);
  provider.proxy = config.trustProxy;

  // Client secrets are stored as SHA-256 digests; the provider only knows how to compare plain ones.
  const clientPrototype = provider.Client.prototype as unknown as {
    clientSecret?: string;
    compareClientSecret(actual: string): boolean;
  };
  clientPrototype.compareClientSecret = function (this: { clientSecret?: string }, actual: string) {
    return clientSecretMatches(actual, this.clientSecret);
  };
  nameSessionsInIdTokens(provider);
  grantAllServiceScopesByDefault(provider);
  // A native app's loopback redirect registered without a port accepts any port; with one, only it.
  installNativeRedirectMatching(provider);

  // Outermost: every error leaves through the one renderer. While storage is unreachable every
  // endpoint answers 503 with Retry-After, never 500; an error escaping the provider's own handling
  // leaves as a generic server_error; the provider's own error answers are rendered again so that
  // they take the same shape and wording rules as ours.
  provider.on("server_error", (ctx: KoaContextWithOIDC, error: Error) => {
    if (isDatabaseUnavailable(error)) ctx.state.databaseUnavailable = true;
  });
  provider.use(async (ctx: KoaContextWithOIDC, next) => {
    try {
      await next();
    } catch (error) {
      if (!(error instanceof IdpError) && !isDatabaseUnavailable(error)) provider.emit("server_error", ctx, error);
      errorResponses.setOnKoa(ctx, error, errorFormat(ctx));
      return;
    }
    if (ctx.state.databaseUnavailable) {
      errorResponses.setOnKoa(ctx, idpErrors.unavailable(), errorFormat(ctx));
    } else if (ctx.status >= 400 && !errorResponses.renderedOnKoa(ctx) && !ctx.response.is("html")) {
      // The provider's own OAuth error bodies, and its router's plain-text 404 and 405 (its pages
      // are all ours: renderError, and the signed-out page of a stale sign-out confirmation).
      const error = isOAuthErrorBody(ctx.body) ? fromOAuth(ctx.status, ctx.body.error, ctx.body.error_description) : { statusCode: ctx.status, message: ctx.message };
      errorResponses.setOnKoa(ctx, error, isOAuthErrorBody(ctx.body) ? "json" : errorFormat(ctx));
    }
  });
  provider.use(tokenUnitOfWorkMiddleware(commitTokenWrites));
  prefillCodeFromLink(provider);
  if (devicePollTooSoon) enforceDevicePollInterval(provider, devicePollTooSoon);

  // Convex fetches the JWKS through an HTTP cache: give it a short, explicit lifetime and plain JSON.
  provider.use(async (ctx: KoaContextWithOIDC, next) => {
    await next();
    if (ctx.oidc?.route === "jwks" && ctx.status === 200) {
      ctx.type = "application/json";
      ctx.set("Cache-Control", `public, max-age=${config.jwksMaxAgeSeconds}`);
    }
  });

  return provider;
}
