// The token logic of the Expo example, free of React Native so the root vitest suite can test it
// (test/examples/expo-tokens.test.ts): what is stored where, when the ID token is refreshed, and
// what Convex's fetchAccessToken gets. App.tsx plugs in expo-secure-store and expo-auth-session.

/** The app's private-use scheme (app.json "scheme"), in reverse-domain form as RFC 8252 §7.1 asks. */
export const APP_SCHEME = "com.example.convexidp";

/**
 * The redirect URI a development or release build uses, exactly as registered with
 * `idp clients add --native --redirect-uri com.example.convexidp:/callback`. Passed to
 * makeRedirectUri as `native`, because makeRedirectUri({ scheme, path }) alone builds
 * `com.example.convexidp://callback`, a different string, and the IdP matches redirect URIs exactly.
 */
export const NATIVE_REDIRECT_URI = `${APP_SCHEME}:/callback`;

/** Scopes asked for: offline_access so that the app gets a refresh token and survives a restart. */
export const SCOPES = ["openid", "profile", "email", "offline_access"] as const;

/**
 * The expo-secure-store key of the refresh token (keys may hold only letters, digits, ".", "-"
 * and "_"). Only the refresh token is stored: an ID token is short-lived, is fetched again at start,
 * and with it the value would pass the 2048 bytes SecureStore warns about on Android.
 */
export const REFRESH_TOKEN_KEY = "convex-idp.refresh_token";

/** Refresh this many seconds before the ID token's `exp`: Convex refetches 10 s before it, and a phone's clock drifts. */
export const REFRESH_MARGIN_SECONDS = 60;

/** The `exp` of a JWT, unverified (the Convex backend verifies it), or undefined when it has none. */
export function tokenExpiry(jwt: string): number | undefined {
  const payload = jwt.split(".")[1];
  if (payload === undefined) return undefined;
  try {
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(payload.length / 4) * 4, "="));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === "number" && Number.isFinite(exp) ? exp : undefined;
  } catch {
    return undefined;
  }
}

/** Whether an ID token must be replaced before it is handed out: absent, without `exp`, or within the margin of expiring. */
export function needsRefresh(idToken: string | undefined, nowSeconds: number, marginSeconds = REFRESH_MARGIN_SECONDS): boolean {
  if (idToken === undefined) return true;
  const exp = tokenExpiry(idToken);
  return exp === undefined || exp - nowSeconds <= marginSeconds;
}

/** The subset of expo-auth-session's TokenResponse used here. */
export interface Tokens {
  idToken?: string;
  refreshToken?: string;
}

/** Where the refresh token lives (expo-secure-store in the app). */
export interface TokenStorage {
  get(key: string): Promise<string | null>;
  set(key: string, value: string): Promise<void>;
  delete(key: string): Promise<void>;
}

export interface TokenSessionOptions {
  storage: TokenStorage;
  /** The refresh token grant (expo-auth-session's refreshAsync against the token endpoint). */
  refresh(refreshToken: string): Promise<Tokens>;
  /** Seconds since the epoch. */
  now?: () => number;
}

export interface AuthState {
  isLoading: boolean;
  isAuthenticated: boolean;
}

/** An error of the token endpoint that means the refresh token is dead: sign out rather than retry. */
function isRefreshTokenRejected(error: unknown): boolean {
  const code = error && typeof error === "object" ? (error as { code?: unknown }).code : undefined;
  return code === "invalid_grant" || code === "invalid_client" || code === "unauthorized_client";
}

/**
 * The signed-in state of the app and the `fetchAccessToken` Convex calls. One refresh at a time:
 * the IdP rotates a public client's refresh token, so two refreshes with the same token would make
 * the second fail (and oidc-provider revokes a grant whose rotated-out refresh token is reused).
 */
export function createTokenSession({ storage, refresh, now = () => Math.floor(Date.now() / 1000) }: TokenSessionOptions) {
  let state: AuthState = { isLoading: true, isAuthenticated: false };
  let idToken: string | undefined;
  let refreshToken: string | undefined;
  let inFlight: Promise<string | null> | undefined;
  const listeners = new Set<() => void>();

  const setState = (next: AuthState) => {
    if (next.isLoading === state.isLoading && next.isAuthenticated === state.isAuthenticated) return;
    state = next;
    for (const listener of listeners) listener();
  };

  async function forget() {
    idToken = undefined;
    refreshToken = undefined;
    await storage.delete(REFRESH_TOKEN_KEY);
    setState({ isLoading: false, isAuthenticated: false });
  }

  /** Keeps what the token endpoint returned; a refresh response may leave out an unrotated refresh token. */
  async function accept(tokens: Tokens): Promise<string> {
    if (!tokens.idToken) throw new Error("The token response has no ID token: is the openid scope granted?");
    idToken = tokens.idToken;
    if (tokens.refreshToken && tokens.refreshToken !== refreshToken) {
      refreshToken = tokens.refreshToken;
      await storage.set(REFRESH_TOKEN_KEY, refreshToken);
    }
    setState({ isLoading: false, isAuthenticated: true });
    return idToken;
  }

  async function runRefresh(): Promise<string | null> {
    const current = refreshToken ?? (await storage.get(REFRESH_TOKEN_KEY)) ?? undefined;
    if (current === undefined) {
      await forget();
      return null;
    }
    refreshToken = current;
    try {
      return await accept(await refresh(current));
    } catch (error) {
      if (isRefreshTokenRejected(error)) {
        await forget();
        return null;
      }
      // Offline or the IdP unreachable: keep the refresh token for the next attempt, and meanwhile
      // hand out nothing Convex would reject.
      setState({ isLoading: false, isAuthenticated: refreshToken !== undefined });
      return null;
    }
  }

  function refreshOnce(): Promise<string | null> {
    inFlight ??= runRefresh().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  }

  return {
    getState: (): AuthState => state,
    subscribe(listener: () => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    /** After the code exchange: keeps the tokens and the refresh token in storage. */
    async signIn(tokens: Tokens): Promise<void> {
      await accept(tokens);
    },

    /** At start: a stored refresh token becomes a fresh ID token; none means signed out. */
    async restore(): Promise<void> {
      if (state.isLoading) await refreshOnce();
    },

    async signOut(): Promise<void> {
      await forget();
    },

    /** The refresh token to revoke at sign-out, if any. */
    currentRefreshToken: (): string | undefined => refreshToken,

    /**
     * What ConvexProviderWithAuth's fetchAccessToken returns: the ID token (Convex's `aud` is the
     * client id, which the access token lacks), a new one when Convex forces a refresh (returning
     * the same string then makes Convex drop the session) or when it is near its `exp`, and null
     * when signed out.
     */
    async fetchAccessToken({ forceRefreshToken }: { forceRefreshToken: boolean }): Promise<string | null> {
      if (inFlight) return await inFlight;
      if (!forceRefreshToken && idToken !== undefined && !needsRefresh(idToken, now())) return idToken;
      return await refreshOnce();
    },
  };
}

export type TokenSession = ReturnType<typeof createTokenSession>;
