// This app as a confidential OpenID Connect client of the IdP (openid-client): the authorization
// request with PKCE, the code exchange, the refresh, and the sign-out URL. The client secret is
// sent with HTTP Basic (client_secret_basic), the method the IdP registers confidential clients with.
import * as oidc from "openid-client";
import type { PendingSignIn, Session } from "./sealed-cookies";
import { settings } from "./settings";

export const SCOPE = "openid email profile offline_access";
export const CALLBACK_PATH = "/callback";

let configuration: Promise<oidc.Configuration> | undefined;

/** The IdP's discovery document, fetched once per server process; a failure is not kept. */
function discover(): Promise<oidc.Configuration> {
  const { issuer, clientId, clientSecret } = settings();
  configuration ??= oidc
    .discovery(issuer, clientId, undefined, oidc.ClientSecretBasic(clientSecret), {
      // Plain http only for an http issuer (a development IdP on localhost).
      execute: issuer.protocol === "http:" ? [oidc.allowInsecureRequests] : [],
    })
    .catch((error: unknown) => {
      configuration = undefined;
      throw error;
    });
  return configuration;
}

const redirectUri = () => new URL(CALLBACK_PATH, settings().appUrl).href;

export async function authorizationUrl(): Promise<{ url: URL; pending: PendingSignIn }> {
  const config = await discover();
  const pending = { verifier: oidc.randomPKCECodeVerifier(), state: oidc.randomState(), nonce: oidc.randomNonce() };
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri(),
    scope: SCOPE,
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: await oidc.calculatePKCECodeChallenge(pending.verifier),
    code_challenge_method: "S256",
  });
  return { url, pending };
}

/** The query of the request that reached /callback, checked against the pending sign-in, exchanged for tokens. */
export async function exchangeCode(search: string, pending: PendingSignIn): Promise<Session> {
  const config = await discover();
  // The app's own origin, not the Host header: openid-client sends this URL as redirect_uri.
  const callbackUrl = new URL(`${CALLBACK_PATH}${search}`, settings().appUrl);
  const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
    pkceCodeVerifier: pending.verifier,
    expectedState: pending.state,
    expectedNonce: pending.nonce,
    idTokenExpected: true,
  });
  return toSession(tokens, undefined);
}

/** A new ID token, and the rotated refresh token the IdP hands out with it. */
export async function refresh(session: Session): Promise<Session> {
  if (!session.refreshToken) throw new RefreshRefused();
  const config = await discover();
  try {
    return toSession(await oidc.refreshTokenGrant(config, session.refreshToken), session.refreshToken);
  } catch (error) {
    // Revoked, expired, already rotated, or the IdP session ended: this refresh token is done.
    if (error instanceof oidc.ResponseBodyError && error.error === "invalid_grant") throw new RefreshRefused();
    throw error;
  }
}

export class RefreshRefused extends Error {
  override name = "RefreshRefused";
  constructor() {
    super("the IdP refused the refresh token");
  }
}

/** RP-initiated logout: the IdP ends its session (without asking, thanks to id_token_hint) and comes back. */
export async function endSessionUrl(idToken: string | undefined): Promise<URL> {
  const config = await discover();
  return oidc.buildEndSessionUrl(config, {
    ...(idToken ? { id_token_hint: idToken } : {}),
    post_logout_redirect_uri: new URL("/", settings().appUrl).href,
  });
}

function toSession(tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers, previousRefreshToken: string | undefined): Session {
  const claims = tokens.claims();
  if (!tokens.id_token || !claims) throw new Error("the IdP returned no ID token");
  return { idToken: tokens.id_token, refreshToken: tokens.refresh_token ?? previousRefreshToken, expiresAt: claims.exp };
}
