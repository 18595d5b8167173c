// What a Convex deployment needs to trust this issuer: convex/auth.config.ts, which reads four
// deployment environment variables, and the `npx convex env set` commands that give them values.

export function jwksUrl(issuer: string): string {
  return `${issuer}/jwks`;
}

export type ConvexDeploymentSettings = {
  issuer: string;
  /** Where the Convex backend fetches the JWKS; inside docker compose an internal address. */
  jwksUrl: string;
  clientId: string;
  serviceAudience: string;
};

export function convexEnvironment(settings: ConvexDeploymentSettings): Record<string, string> {
  return {
    IDP_ISSUER: settings.issuer,
    IDP_JWKS_URL: settings.jwksUrl,
    IDP_CLIENT_ID: settings.clientId,
    IDP_SERVICE_AUDIENCE: settings.serviceAudience,
  };
}

/** Shell-quotes a value for `npx convex env set NAME VALUE`. */
function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

export function convexEnvCommands(settings: ConvexDeploymentSettings): string[] {
  return Object.entries(convexEnvironment(settings)).map(([name, value]) => `npx convex env set ${name} ${shellQuote(value)}`);
}
