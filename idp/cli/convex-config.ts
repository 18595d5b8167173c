// What a Convex deployment needs to trust this issuer: the auth.config.ts provider entry and the
// environment variables it reads.

export function jwksUrl(issuer: string): string {
  return `${issuer}/jwks`;
}

export function convexAuthConfig(issuer: string, clientId: string): string {
  return `// convex/auth.config.ts
export default {
  providers: [
    {
      type: "customJwt",
      issuer: ${JSON.stringify(issuer)},
      jwks: ${JSON.stringify(jwksUrl(issuer))},
      algorithm: "RS256",
      applicationID: ${JSON.stringify(clientId)},
    },
  ],
};`;
}
