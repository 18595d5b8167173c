// The example's settings, read from the environment of `next start` (not baked in at build time), so
// one build runs against any IdP and deployment. Read on first use: `next build` needs none of them.
export type Settings = {
  /** This app's public origin; the redirect URIs are built from it, never from the Host header. */
  appUrl: URL;
  issuer: URL;
  clientId: string;
  clientSecret: string;
  /** 32 bytes: the A256GCM key the session cookie is sealed with. */
  sessionKey: Uint8Array;
  convexUrl: string | undefined;
  /** An ID token with less than this many seconds left is replaced by a refresh before use. */
  refreshBeforeSeconds: number;
};

let cached: Settings | undefined;

export function settings(): Settings {
  return (cached ??= readSettings(process.env));
}

function readSettings(env: NodeJS.ProcessEnv): Settings {
  const required = (name: string) => {
    const value = env[name];
    if (!value) throw new Error(`${name} is not set (see examples/nextjs-app/README.md)`);
    return value;
  };
  const sessionKey = Buffer.from(required("SESSION_SECRET"), "base64");
  if (sessionKey.length !== 32) {
    throw new Error("SESSION_SECRET must be 32 random bytes in base64: `openssl rand -base64 32`");
  }
  const refreshBeforeSeconds = Number(env.SESSION_REFRESH_BEFORE ?? "60");
  if (!Number.isInteger(refreshBeforeSeconds) || refreshBeforeSeconds < 0) {
    throw new Error("SESSION_REFRESH_BEFORE must be a whole number of seconds");
  }
  return {
    appUrl: new URL(env.APP_URL || "http://localhost:3001"),
    issuer: new URL(env.IDP_ISSUER || "http://localhost:3000/oidc"),
    clientId: env.IDP_CLIENT_ID || "nextjs-app",
    clientSecret: required("IDP_CLIENT_SECRET"),
    sessionKey: new Uint8Array(sessionKey),
    convexUrl: env.CONVEX_URL || env.NEXT_PUBLIC_CONVEX_URL || undefined,
    refreshBeforeSeconds,
  };
}
