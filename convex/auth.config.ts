// convex/auth.config.ts
//
// Which tokens this Convex deployment accepts: RS256 JWTs from our IdP, in the `customJwt` form.
//
// Two entries with the same issuer and JWKS, told apart by audience (`aud`):
// 1. people: ID tokens issued to the web client, `aud` = IDP_CLIENT_ID;
// 2. services: client_credentials tokens for backend workers, `aud` = IDP_SERVICE_AUDIENCE.
// Convex uses the first entry whose issuer and applicationID match the token. Functions tell
// services from people by the `token_use: "service"` claim (see auth.ts), which only service
// tokens carry.
//
// The JWKS URL is its own variable rather than `${issuer}/jwks` because inside docker compose the
// Convex backend fetches the keys at an internal address (http://idp:3000/oidc/jwks) while the
// issuer stays the public URL that is in every token's `iss`.
//
// All four variables must be set on the deployment (`npx convex env set IDP_ISSUER ...`, see
// README.md) or the push fails. IDP_ISSUER must be exactly the IdP's ISSUER: every user's
// tokenIdentifier contains it.
import type { AuthConfig } from "convex/server";

export default {
  providers: [
    {
      type: "customJwt",
      issuer: process.env.IDP_ISSUER!,
      jwks: process.env.IDP_JWKS_URL!,
      algorithm: "RS256",
      applicationID: process.env.IDP_CLIENT_ID!,
    },
    {
      type: "customJwt",
      issuer: process.env.IDP_ISSUER!,
      jwks: process.env.IDP_JWKS_URL!,
      algorithm: "RS256",
      applicationID: process.env.IDP_SERVICE_AUDIENCE!,
    },
  ],
} satisfies AuthConfig;
