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
import type { UserStore } from "../store/users.ts";

export type ProviderDeps = {
  config: Config;
  keys: KeyMaterial;
  adapter: new (model: string) => Adapter;
  users: UserStore;
};

export function interactionPath(uid: string): string {
  return `/interaction/${uid}`;
}

export function createProvider({ config, keys, adapter, users }: ProviderDeps): Provider {
  const serviceTokens = serviceTokenFeatures(config);
  const configuration: Configuration = {
    adapter,
    findAccount: createFindAccount(users),
    jwks: providerJwks(keys.signingKeys) as Configuration["jwks"],
    cookies: { keys: keys.cookieKeys },
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
    pkce: { required: (_ctx, client) => client.clientAuthMethod === "none" },
    features: {
      ...(serviceTokens.features as Configuration["features"]),
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
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
      ctx.body = errorPage(describeError(out, error));
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
