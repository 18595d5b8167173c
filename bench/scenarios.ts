// What the benchmark asks a server to do, one operation each: discovery and JWKS GETs, the
// client_credentials grant, one step of a refresh-token chain, and a whole password sign-in through
// the server's own pages. Each checks the answer and throws when it is not the expected one.
import { createHash, randomBytes } from "node:crypto";
import { CookieJar, findForm, form, FORM, type HttpClient, type Response } from "./http.ts";
import { BENCH_CLIENTS, REDIRECT_URI } from "./fixtures.ts";

export type Target = {
  /** "ours" or "bare": which pages the sign-in walks. */
  kind: "ours" | "bare";
  issuer: string;
  serviceSecret: string;
};

/** Who signs in: our IdP checks an email and password; the bare provider's dev login takes any login. */
export type Credentials = { email: string; password: string } | { login: string };

function expectStatus(response: Response, status: number, what: string): void {
  if (response.status !== status) throw new Error(`${what}: HTTP ${response.status} ${response.body.slice(0, 200)}`);
}

export function discovery(http: HttpClient, target: Target) {
  const url = `${target.issuer}/.well-known/openid-configuration`;
  return async () => expectStatus(await http.request(url), 200, "discovery");
}

export function jwks(http: HttpClient, target: Target) {
  const url = `${target.issuer}/jwks`;
  return async () => expectStatus(await http.request(url), 200, "jwks");
}

export function clientCredentials(http: HttpClient, target: Target) {
  const url = `${target.issuer}/token`;
  const authorization = `Basic ${Buffer.from(`${BENCH_CLIENTS.service.id}:${target.serviceSecret}`).toString("base64")}`;
  const body = form({ grant_type: "client_credentials" });
  return async () => {
    const response = await http.request(url, { method: "POST", headers: { authorization, "content-type": FORM }, body });
    expectStatus(response, 200, "client_credentials");
    if (!(JSON.parse(response.body) as { access_token?: string }).access_token) throw new Error("client_credentials: no access_token");
  };
}

/** One refresh-token chain: each step presents the live token and keeps the rotated one. */
export type Chain = { refreshToken: string };

export function refresh(http: HttpClient, target: Target, chain: Chain) {
  const url = `${target.issuer}/token`;
  return async () => {
    const body = form({ grant_type: "refresh_token", refresh_token: chain.refreshToken, client_id: BENCH_CLIENTS.web.id });
    const response = await http.request(url, { method: "POST", headers: { "content-type": FORM }, body });
    expectStatus(response, 200, "refresh_token");
    const tokens = JSON.parse(response.body) as { refresh_token?: string; id_token?: string };
    if (!tokens.id_token || !tokens.refresh_token || tokens.refresh_token === chain.refreshToken) {
      throw new Error("refresh_token: no ID token or no rotated refresh token");
    }
    chain.refreshToken = tokens.refresh_token;
  };
}

export type SignInResult = { code: string; verifier: string };

/**
 * A person signing in from a fresh browser: the authorization request, the login page, the form post
 * (with its CSRF token on ours), every redirect, until the client's redirect URI with a code.
 */
export async function signIn(http: HttpClient, target: Target, credentials: Credentials): Promise<SignInResult> {
  const jar = new CookieJar();
  const verifier = randomBytes(32).toString("base64url");
  const state = randomBytes(16).toString("base64url");
  const query = new URLSearchParams({
    client_id: BENCH_CLIENTS.web.id,
    response_type: "code",
    redirect_uri: REDIRECT_URI,
    scope: "openid email profile",
    state,
    nonce: randomBytes(16).toString("base64url"),
    code_challenge: createHash("sha256").update(verifier).digest("base64url"),
    code_challenge_method: "S256",
  });
  let url = new URL(`${target.issuer}/auth?${query}`);
  let init: { method?: string; body?: string } = {};
  for (let step = 0; step < 12; step++) {
    const headers: Record<string, string> = { accept: "text/html" };
    const cookie = jar.header(url);
    if (cookie) headers.cookie = cookie;
    if (init.body !== undefined) headers["content-type"] = FORM;
    const response = await http.request(url.toString(), { ...init, headers });
    jar.store(response.headers["set-cookie"]);
    const location = response.headers.location;
    if (location && response.status >= 300 && response.status < 400) {
      const next = new URL(location, url);
      if (next.toString().startsWith(REDIRECT_URI)) {
        const code = next.searchParams.get("code");
        if (!code || next.searchParams.get("state") !== state) throw new Error(`sign-in ended without a code: ${next}`);
        return { code, verifier };
      }
      url = next;
      init = {};
      continue;
    }
    expectStatus(response, 200, `sign-in page ${url.pathname}`);
    const page = findForm(response.body, (action) => action.includes("/interaction/") && !action.endsWith("/abort"));
    if (!page) throw new Error(`sign-in: no form at ${url.pathname}`);
    const fields: Record<string, string> = { ...page.hidden };
    if (page.fields.includes("password")) {
      if ("email" in credentials) Object.assign(fields, { email: credentials.email, password: credentials.password });
      else Object.assign(fields, { login: credentials.login, password: "any" });
    }
    url = new URL(page.action, url);
    init = { method: "POST", body: form(fields) };
  }
  throw new Error("sign-in: too many steps");
}

/** Signs in and exchanges the code: the start of a refresh-token chain. */
export async function newChain(http: HttpClient, target: Target, credentials: Credentials): Promise<Chain> {
  const { code, verifier } = await signIn(http, target, credentials);
  const body = form({ grant_type: "authorization_code", code, redirect_uri: REDIRECT_URI, client_id: BENCH_CLIENTS.web.id, code_verifier: verifier });
  const response = await http.request(`${target.issuer}/token`, { method: "POST", headers: { "content-type": FORM }, body });
  expectStatus(response, 200, "authorization_code");
  const tokens = JSON.parse(response.body) as { refresh_token?: string };
  if (!tokens.refresh_token) throw new Error("authorization_code: no refresh token");
  return { refreshToken: tokens.refresh_token };
}
