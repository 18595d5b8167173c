// Sign-in for Convex web apps against this IdP: authorization code + PKCE by redirect, the
// callback, and fetchToken() for ConvexClient/ConvexReactClient.setAuth. The protocol work is done
// by oauth4webapi; this module only keeps the tokens and decides when to refresh.
//
// Token storage: the ID and access tokens live in memory only. The refresh token lives in memory
// and, so that a reload does not sign the user out, in sessionStorage: it survives a reload of
// this tab, is not shared with other tabs (each tab rotates its own token, so tabs do not race
// each other's rotation; a duplicated tab copies it, and the loser of that race is signed out
// and signs in again through the IdP's session), and is gone when the tab closes. Set persistRefreshToken: false to keep it
// in memory only (a reload then goes through the IdP again, silently while its session lasts).
import * as oauth from "oauth4webapi";

export type IdpAuthOptions = {
  /** The IdP's issuer, exactly as configured there (e.g. http://localhost:3000/oidc). */
  issuer: string;
  /** A public client registered with `idp clients add --public`. */
  clientId: string;
  /** Where the IdP sends the browser back; must be registered for the client. */
  redirectUri: string;
  /** Where the IdP sends the browser after sign-out; must be registered for the client. */
  postLogoutRedirectUri?: string;
  /** Defaults to "openid email profile offline_access". */
  scope?: string;
  /** Keep the refresh token across reloads of this tab (sessionStorage). Default true. */
  persistRefreshToken?: boolean;
  /** A token this close to expiry is refreshed before it is handed out. Default 30 s. */
  minTokenLifetimeSeconds?: number;
  storage?: Storage;
  now?: () => number;
};

export type AuthState = { isLoading: boolean; isAuthenticated: boolean };

export type IdpAuth = {
  /** Sends the browser to the IdP's sign-in page. */
  signIn(options?: { loginHint?: string; returnTo?: string }): Promise<void>;
  /** On the redirect URI: exchanges the code. Returns where to go next, or null when the URL holds no response. */
  handleRedirectCallback(url?: string): Promise<string | null>;
  /** For setAuth: the current ID token, a new one when forced or near expiry, or null when signed out. */
  fetchToken(args?: { forceRefreshToken?: boolean }): Promise<string | null>;
  /** Forgets the tokens here and ends the session at the IdP (RP-initiated logout). */
  signOut(): Promise<void>;
  getState(): AuthState;
  subscribe(listener: () => void): () => void;
};

const PENDING_KEY = "idp-auth:pending";
const REFRESH_KEY = "idp-auth:refresh";

type Pending = { verifier: string; state: string; nonce: string; returnTo: string };
type Tokens = { idToken: string; expiresAt: number; refreshToken?: string };

export class IdpAuthError extends Error {
  override name = "IdpAuthError";
}

export function createIdpAuth(options: IdpAuthOptions): IdpAuth {
  const storage = options.storage ?? globalThis.sessionStorage;
  const now = options.now ?? Date.now;
  const client: oauth.Client = { client_id: options.clientId };
  const clientAuth = oauth.None();
  const scope = options.scope ?? "openid email profile offline_access";
  const minLifetimeMs = (options.minTokenLifetimeSeconds ?? 30) * 1000;
  const issuer = new URL(options.issuer);
  const http = issuer.protocol === "http:" ? { [oauth.allowInsecureRequests]: true } : {};

  let server: Promise<oauth.AuthorizationServer> | undefined;
  let tokens: Tokens | undefined;
  let refreshing: Promise<string | null> | undefined;
  let state: AuthState = { isLoading: Boolean(storage.getItem(REFRESH_KEY)), isAuthenticated: false };
  const listeners = new Set<() => void>();

  const setState = (next: AuthState) => {
    if (next.isLoading === state.isLoading && next.isAuthenticated === state.isAuthenticated) return;
    state = next;
    for (const listener of listeners) listener();
  };

  // A failed discovery is not kept: the next sign-in or refresh asks again.
  const discover = () =>
    (server ??= oauth
      .discoveryRequest(issuer, { algorithm: "oidc", ...http })
      .then((response) => oauth.processDiscoveryResponse(issuer, response))
      .catch((error: unknown) => {
        server = undefined;
        throw error;
      }));

  function keep(result: oauth.TokenEndpointResponse) {
    const claims = oauth.getValidatedIdTokenClaims(result);
    if (!result.id_token || !claims) throw new IdpAuthError("the IdP returned no ID token");
    tokens = {
      idToken: result.id_token,
      expiresAt: claims.exp * 1000,
      refreshToken: result.refresh_token ?? tokens?.refreshToken,
    };
    if (options.persistRefreshToken !== false && tokens.refreshToken) storage.setItem(REFRESH_KEY, tokens.refreshToken);
    setState({ isLoading: false, isAuthenticated: true });
    return tokens.idToken;
  }

  function forget() {
    tokens = undefined;
    storage.removeItem(REFRESH_KEY);
    setState({ isLoading: false, isAuthenticated: false });
  }

  async function refresh(): Promise<string | null> {
    const refreshToken = tokens?.refreshToken ?? storage.getItem(REFRESH_KEY) ?? undefined;
    if (!refreshToken) {
      forget();
      return null;
    }
    try {
      const as = await discover();
      const response = await oauth.refreshTokenGrantRequest(as, client, clientAuth, refreshToken, http);
      return keep(await oauth.processRefreshTokenResponse(as, client, response));
    } catch (error) {
      // The grant is gone (revoked, expired, signed out elsewhere): the user is signed out here too.
      if (error instanceof oauth.ResponseBodyError && error.error === "invalid_grant") {
        forget();
        return null;
      }
      // Any other failure (IdP unreachable, 5xx) while restoring a session: not signed in for now,
      // rather than loading forever. The stored refresh token stays for the next attempt.
      if (!tokens) setState({ isLoading: false, isAuthenticated: false });
      throw error;
    }
  }

  return {
    async signIn({ loginHint, returnTo } = {}) {
      const as = await discover();
      const pending: Pending = {
        verifier: oauth.generateRandomCodeVerifier(),
        state: oauth.generateRandomState(),
        nonce: oauth.generateRandomNonce(),
        returnTo: returnTo ?? globalThis.location?.href ?? "/",
      };
      storage.setItem(PENDING_KEY, JSON.stringify(pending));
      const url = new URL(as.authorization_endpoint!);
      url.search = new URLSearchParams({
        client_id: options.clientId,
        redirect_uri: options.redirectUri,
        response_type: "code",
        scope,
        state: pending.state,
        nonce: pending.nonce,
        code_challenge: await oauth.calculatePKCECodeChallenge(pending.verifier),
        code_challenge_method: "S256",
        ...(loginHint ? { login_hint: loginHint } : {}),
      }).toString();
      globalThis.location.assign(url.toString());
    },

    async handleRedirectCallback(href = globalThis.location.href) {
      const url = new URL(href);
      if (!url.searchParams.has("code") && !url.searchParams.has("error")) return null;
      const saved = storage.getItem(PENDING_KEY);
      storage.removeItem(PENDING_KEY); // one use, whatever happens next
      if (!saved) throw new IdpAuthError("no sign-in is in progress in this tab");
      const pending = JSON.parse(saved) as Pending;
      const as = await discover();
      const params = oauth.validateAuthResponse(as, client, url, pending.state);
      const response = await oauth.authorizationCodeGrantRequest(
        as,
        client,
        clientAuth,
        params,
        options.redirectUri,
        pending.verifier,
        http,
      );
      keep(await oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: pending.nonce, requireIdToken: true }));
      return pending.returnTo;
    },

    async fetchToken({ forceRefreshToken = false } = {}) {
      if (!forceRefreshToken && tokens && tokens.expiresAt - now() > minLifetimeMs) return tokens.idToken;
      // One refresh at a time: the refresh token rotates, so a second concurrent use would be refused.
      refreshing ??= refresh().finally(() => {
        refreshing = undefined;
      });
      return refreshing;
    },

    async signOut() {
      const idToken = tokens?.idToken;
      forget();
      const as = await discover();
      const url = new URL(as.end_session_endpoint!);
      url.search = new URLSearchParams({
        client_id: options.clientId,
        ...(idToken ? { id_token_hint: idToken } : {}),
        ...(options.postLogoutRedirectUri ? { post_logout_redirect_uri: options.postLogoutRedirectUri } : {}),
      }).toString();
      globalThis.location.assign(url.toString());
    },

    getState: () => state,

    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
