// Service tokens: a confidential client marked as a service uses the client_credentials grant and
// gets a short-lived RS256 JWT access token for Convex, with `sub` = its client id, `aud` = the
// service audience and `token_use: "service"`, the claim Convex functions use to tell services
// from people. Built on oidc-provider's resource indicators, which is how it issues JWT tokens.
import { errors, type Configuration, type KoaContextWithOIDC } from "oidc-provider";
import type { Config } from "../config.ts";

// The internal resource identifier; clients need not send it, it is the default for services.
export const SERVICE_RESOURCE = "urn:convex-idp:service-tokens";

type ClientLike = { metadata(): Record<string, unknown> } | undefined;

const isService = (client: ClientLike) => client?.metadata().service === true;

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
          scope: "",
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
