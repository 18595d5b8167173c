// Drives a real sign-in: openid-client builds the authorization request, a Browser walks the login
// (and consent) pages, and openid-client exchanges the code.
import * as oidc from "openid-client";
import { Browser, type Page } from "./browser.ts";

export const REDIRECT_URI = "http://localhost:5173/callback";
export const POST_LOGOUT_URI = "http://localhost:5173/signed-out";

/** RFC 7636's example S256 challenge, for authorization requests whose code is never exchanged. */
export const EXAMPLE_CODE_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/**
 * The query of an authorization code request by the public client "web" with a fixed PKCE
 * challenge, as a test sends it by hand; `params` adds parameters or replaces these.
 */
export function authorizationQuery(params: Record<string, string> = {}): URLSearchParams {
  return new URLSearchParams({
    client_id: "web",
    response_type: "code",
    scope: "openid",
    redirect_uri: REDIRECT_URI,
    code_challenge: EXAMPLE_CODE_CHALLENGE,
    code_challenge_method: "S256",
    ...params,
  });
}

export async function discover(issuer: string, clientId: string, secret?: string): Promise<oidc.Configuration> {
  return oidc.discovery(new URL(issuer), clientId, undefined, secret ? oidc.ClientSecretBasic(secret) : oidc.None(), {
    execute: [oidc.allowInsecureRequests],
  });
}

export type AuthorizationStart = { url: URL; verifier: string; state: string; nonce: string };

export async function startAuthorization(
  config: oidc.Configuration,
  params: Record<string, string> = {},
  { pkce = true }: { pkce?: boolean } = {},
): Promise<AuthorizationStart> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: "openid email profile offline_access",
    state,
    nonce,
    ...(pkce ? { code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256" } : {}),
    ...params,
  });
  return { url, verifier, state, nonce };
}

const atCallback = (url: string) => url.startsWith(REDIRECT_URI);

/** Opens the authorization URL and signs in; returns the callback URL (or the page shown instead). */
export async function signIn(
  browser: Browser,
  start: AuthorizationStart,
  credentials: { email: string; password: string },
  { consent = true }: { consent?: boolean } = {},
): Promise<Page> {
  const login = await browser.follow(start.url.toString(), atCallback);
  if (atCallback(login.url)) return login; // already signed in
  let page = await browser.submit(login, "/login", credentials, atCallback);
  if (consent && page.html.includes("/confirm")) page = await browser.submit(page, "/confirm", {}, atCallback);
  return page;
}

export async function exchange(config: oidc.Configuration, start: AuthorizationStart, callbackUrl: string) {
  return oidc.authorizationCodeGrant(config, new URL(callbackUrl), {
    pkceCodeVerifier: start.verifier,
    expectedState: start.state,
    expectedNonce: start.nonce,
  });
}
