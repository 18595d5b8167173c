// Service tokens: a confidential client marked as a service uses the client_credentials grant and
// gets a short-lived RS256 JWT access token for Convex, with `sub` = its client id, `aud` = the
// service audience and `token_use: "service"`, the claim Convex functions use to tell services
// from people. Built on oidc-provider's resource indicators, which is how it issues JWT tokens.
// A service client's scopes (`idp clients add --service --scopes ...`, the admin API's
// admin:users:read and others) are the most its tokens can hold; asking for none asks for all.
import Provider, { errors, type Configuration, type KoaContextWithOIDC } from "oidc-provider";
import type { Config } from "../config.ts";

// The internal resource identifier; clients need not send it, it is the default for services.
export const SERVICE_RESOURCE = "urn:convex-idp:service-tokens";

type ClientLike = { metadata(): Record<string, unknown> } | undefined;

const isService = (client: ClientLike) => client?.metadata().service === true;
const serviceScopes = (client: ClientLike): string[] => {
  const scopes = client?.metadata().service_scopes;
  return Array.isArray(scopes) ? scopes.filter((scope): scope is string => typeof scope === "string") : [];
};

/**
 * A client_credentials request of a service client without `scope` asks for every scope the client
 * holds (oidc-provider would grant none). The granted scopes are then those the resource server
 * (getResourceServerInfo below: the client's own) allows, so a request can narrow but never widen.
 */
export function grantAllServiceScopesByDefault(provider: Provider): void {
  const prototype = provider.OIDCContext.prototype as object;
  const original = Object.getOwnPropertyDescriptor(prototype, "requestParamScopes")!;
  Object.defineProperty(prototype, "requestParamScopes", {
    configurable: true,
    get(this: { params?: Record<string, unknown>; client?: ClientLike }) {
      if (this.params?.grant_type === "client_credentials" && !this.params.scope && isService(this.client)) return new Set(serviceScopes(this.client));
      return original.get!.call(this);
    },
  });
}

export function serviceTokenFeatures(config: Pick<Config, "serviceTokenAudience" | "serviceTokenTtlSeconds">) {
  const features: NonNullable<Configuration["features"]> = {
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (ctx: KoaContextWithOIDC, client: ClientLike) =>
        ctx.oidc.params?.grant_type === "client_credentials" && isService(client) ? SERVICE_RESOURCE : undefined,
      getResourceServerInfo: async (_ctx: KoaContextWithOIDC, resource: string, client: ClientLike) => {
        if (resource !== SERVICE_RESOURCE || !isService(client)) throw new errors.InvalidTarget();
        return {
          scope: serviceScopes(client).join(" "),
          audience: config.serviceTokenAudience,
          accessTokenTTL: config.serviceTokenTtlSeconds,
          accessTokenFormat: "jwt" as const,
          jwt: { sign: { alg: "RS256" as const } },
        };
      },
      useGrantedResource: async () => false,
    },
  };
  return {
    features,
    extraTokenClaims: async (_ctx: KoaContextWithOIDC, token: { kind?: string }) =>
      token.kind === "ClientCredentials" ? { token_use: "service" } : undefined,
  };
}
