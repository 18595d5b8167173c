// The oidc-provider instance: which endpoints exist, which flows and algorithms are allowed, token
// lifetimes, and the pages it renders itself (logout, errors).
import Provider, { errors, type Configuration, type KoaContextWithOIDC } from "oidc-provider";
import type { Config } from "../config.ts";
import { clientSecretMatches } from "../accounts/client-secrets.ts";
import type { KeyMaterial } from "../keys/key-material.ts";
import { providerJwks } from "../keys/signing-keys.ts";
import type { Adapter } from "oidc-provider";
import { trusted } from "../interactions/html.ts";
import { errorPage, loggedOutPage, logoutPage } from "../interactions/views.ts";
import { createFindAccount, scopeClaims } from "./account.ts";
import { serviceTokenFeatures } from "./service-tokens.ts";
import { tokenUnitOfWorkMiddleware, type PendingWrite } from "./token-unit-of-work.ts";
import { isDatabaseUnavailable, UNAVAILABLE_MESSAGE, UNAVAILABLE_RETRY_AFTER_SECONDS } from "../db/availability.ts";
import { createLogoutWithoutPrompt, nameSessionsInIdTokens } from "./logout-without-prompt.ts";
import { staleLogoutConfirmation } from "./stale-logout.ts";
import type { UserStore } from "../store/users.ts";

export type ProviderDeps = {
  config: Config;
  keys: KeyMaterial;
  adapter: new (model: string) => Adapter;
  users: UserStore;
  /** Commits a token request's consumes and saves in one transaction (see token-unit-of-work.ts). */
  commitTokenWrites: (writes: PendingWrite[]) => Promise<void>;
  /** The clock (an id_token_hint's expiry is judged by it); defaults to the system's. */
  now?: () => Date;
};

export function interactionPath(uid: string): string {
  return `/interaction/${uid}`;
}

export function createProvider({ config, keys, adapter, users, commitTokenWrites, now = () => new Date() }: ProviderDeps): Provider {
  const serviceTokens = serviceTokenFeatures(config);
  const endSessionWithoutPrompt = createLogoutWithoutPrompt(now);
  const configuration: Configuration = {
    adapter,
    findAccount: createFindAccount(users),
    jwks: providerJwks(keys.signingKeys) as Configuration["jwks"],
    // Stated rather than left to the defaults. Secure is added per request when it came over https
    // (provider.proxy = TRUST_PROXY makes X-Forwarded-Proto count); forcing it would make the
    // cookies library refuse to set them on a plain-http request.
    cookies: {
      keys: keys.cookieKeys,
      long: { httpOnly: true, sameSite: "lax", signed: true },
      short: { httpOnly: true, sameSite: "lax", signed: true },
    },
    scopes: ["openid", "offline_access", "email", "profile"],
    claims: { ...scopeClaims } as unknown as Configuration["claims"],
    conformIdTokenClaims: false,
    responseTypes: ["code"],
    clientAuthMethods: ["client_secret_basic", "client_secret_post", "none"],
    enabledJWA: { idTokenSigningAlgValues: ["RS256"], userinfoSigningAlgValues: ["RS256"] },
    extraClientMetadata: { properties: ["first_party", "service"] },
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
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          // A valid id_token_hint for this session and client signs out at once (logout-without-prompt.ts).
          if (await endSessionWithoutPrompt(ctx)) return;
          ctx.type = "html";
          ctx.body = logoutPage(trusted(form), ctx.oidc.client?.clientName);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.type = "html";
          ctx.body = loggedOutPage(ctx.oidc.client?.clientName);
        },
      },
    },
    interactions: { url: (_ctx, interaction) => interactionPath(interaction.uid) },
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
    },
    async renderError(ctx, out, error) {
      ctx.type = "html";
      // A sign-out confirmed after the session already ended (another tab) or after a newer sign-out page.
      const stale = staleLogoutConfirmation(ctx, error);
      if (stale === "signed_out") ctx.body = loggedOutPage(undefined);
      else if (stale === "superseded") ctx.body = errorPage({ title: "This sign-out has expired", message: "You are still signed in. Go back to the application and sign out again." });
      else ctx.body = errorPage(describeError(out, error));
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

  // Outermost: while the database is unreachable every endpoint answers 503 with Retry-After, never
  // 500; any other error escaping the provider's own handling leaves as a generic server_error.
  provider.on("server_error", (ctx: KoaContextWithOIDC, error: Error) => {
    if (isDatabaseUnavailable(error)) ctx.state.databaseUnavailable = true;
  });
  provider.use(async (ctx: KoaContextWithOIDC, next) => {
    try {
      await next();
    } catch (error) {
      if (isDatabaseUnavailable(error)) {
        ctx.state.databaseUnavailable = true;
      } else {
        provider.emit("server_error", ctx, error);
        ctx.status = 500;
        ctx.body = { error: "server_error", error_description: "oops! something went wrong" };
        return;
      }
    }
    if (!ctx.state.databaseUnavailable) return;
    ctx.status = 503;
    ctx.set("Retry-After", String(UNAVAILABLE_RETRY_AFTER_SECONDS));
    if (ctx.accepts("json", "html") === "html" && ctx.method === "GET") {
      ctx.type = "html";
      ctx.body = errorPage({ title: "Temporarily unavailable", message: UNAVAILABLE_MESSAGE });
    } else {
      ctx.body = { error: "temporarily_unavailable", error_description: UNAVAILABLE_MESSAGE };
    }
  });
  provider.use(tokenUnitOfWorkMiddleware(commitTokenWrites));

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

function describeError(
  out: { error: string; error_description?: string },
  error: Error,
): { title: string; message: string } {
  if (error instanceof errors.SessionNotFound) {
    return { title: "This sign-in has expired", message: "Go back to the application and sign in again." };
  }
  if (out.error === "invalid_client") {
    return { title: "Unknown application", message: "The application that sent you here is not registered with this identity provider." };
  }
  if (out.error === "invalid_redirect_uri") {
    return { title: "Unregistered redirect", message: "The application asked to return you to an address it has not registered." };
  }
  return {
    title: "Something went wrong",
    message: out.error_description && !out.error.startsWith("server_error") ? `${out.error}: ${out.error_description}` : "The request could not be completed.",
  };
}
