// What the benchmark asks a server to do, one operation each: discovery and JWKS GETs, the
// client_credentials grant, one step of a refresh-token chain, a whole password sign-in through
// the server's own pages, and on ours a whole sign-in by an emailed code and a whole sign-up (each
// to the token exchange), the codes read from the mail, a password + authenticator app sign-in, a passkey sign-in and a sign-in through an upstream provider. Each checks the answer and throws when it
// is not the expected one.
import { createHash, randomBytes } from "node:crypto";
import * as OTPAuth from "otpauth";
import { CookieJar, findForm, form, FORM, type HttpClient, type Response } from "./http.ts";
import { BENCH_CLIENTS, REDIRECT_URI } from "./fixtures.ts";
import type { Mailbox } from "./mailbox.ts";
import type { SoftwareAuthenticator } from "../test/support/software-authenticator.ts";

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

/** An authorization code request by the web client with PKCE, as a browser is sent to it. */
function authorizationRequest(target: Target): { url: URL; verifier: string; state: string } {
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
  return { url: new URL(`${target.issuer}/auth?${query}`), verifier, state };
}

/**
 * A person signing in from a fresh browser: the authorization request, the login page, the form post
 * (with its CSRF token on ours), every redirect, until the client's redirect URI with a code.
 */
export async function signIn(http: HttpClient, target: Target, credentials: Credentials): Promise<SignInResult> {
  const jar = new CookieJar();
  const { verifier, state, url: start } = authorizationRequest(target);
  let url = start;
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

/** The code exchanged at the token endpoint, as the client does: the tokens, checked. */
async function exchange(http: HttpClient, target: Target, { code, verifier }: SignInResult): Promise<{ refresh_token?: string }> {
  const body = form({ grant_type: "authorization_code", code, redirect_uri: REDIRECT_URI, client_id: BENCH_CLIENTS.web.id, code_verifier: verifier });
  const response = await http.request(`${target.issuer}/token`, { method: "POST", headers: { "content-type": FORM }, body });
  expectStatus(response, 200, "authorization_code");
  const tokens = JSON.parse(response.body) as { access_token?: string; id_token?: string; refresh_token?: string };
  if (!tokens.access_token || !tokens.id_token) throw new Error("authorization_code: no access token or ID token");
  return tokens;
}

/** Signs in and exchanges the code: the start of a refresh-token chain. */
export async function newChain(http: HttpClient, target: Target, credentials: Credentials): Promise<Chain> {
  const tokens = await exchange(http, target, await signIn(http, target, credentials));
  if (!tokens.refresh_token) throw new Error("authorization_code: no refresh token");
  return { refreshToken: tokens.refresh_token };
}

/** A sign-in through the server's pages and the code exchange after it: the bare provider's share of code_sign_in. */
export async function signInAndExchange(http: HttpClient, target: Target, credentials: Credentials): Promise<void> {
  await exchange(http, target, await signIn(http, target, credentials));
}

/** A page as a browser holds it: where it was loaded from and its HTML. */
type Page = { url: URL; html: string };

/**
 * One fresh browser on our IdP's pages: a cookie jar; each step loads or posts and follows the
 * redirects to the next page, or to the client's redirect URI with a code.
 */
class Browser {
  private readonly jar = new CookieJar();
  private readonly http: HttpClient;
  private readonly started: { url: URL; verifier: string; state: string };
  constructor(http: HttpClient, target: Target) {
    this.http = http;
    this.started = authorizationRequest(target);
  }

  /** The authorization request: the sign-in page it leads to. */
  async start(): Promise<Page> {
    return this.page(await this.go(this.started.url), "the authorization request");
  }

  /**
   * A page's form (the one whose action ends with `action`) posted with these fields: to its
   * action, or to `formAction` (a button's formaction, which posts the same form elsewhere).
   */
  async submit(page: Page, action: string, fields: Record<string, string>, formAction?: string): Promise<Page | SignInResult> {
    const found = findForm(page.html, (candidate) => candidate.endsWith(action));
    if (!found) throw new Error(`no form for ${action} at ${page.url.pathname}`);
    return this.go(new URL(formAction ?? found.action, page.url), { ...found.hidden, ...fields });
  }

  /** A page's first form posted with these fields (a page with one form: the upstream's login and consent). */
  async submitFirst(page: Page, fields: Record<string, string>): Promise<Page | SignInResult> {
    const found = findForm(page.html, () => true);
    if (!found) throw new Error(`no form at ${page.url.href}`);
    return this.go(new URL(found.action, page.url), { ...found.hidden, ...fields });
  }

  /** A JSON POST from a page's script, with the page's cookies and CSRF token (no redirects). */
  async postJson(page: Page, path: string, csrfToken: string): Promise<unknown> {
    const url = new URL(path, page.url);
    const headers: Record<string, string> = { accept: "application/json", "content-type": "application/json", "csrf-token": csrfToken };
    const cookie = this.jar.header(url);
    if (cookie) headers.cookie = cookie;
    const response = await this.http.request(url.toString(), { method: "POST", headers, body: "{}" });
    this.jar.store(response.headers["set-cookie"]);
    expectStatus(response, 200, `POST ${url.pathname}`);
    return JSON.parse(response.body);
  }

  async get(page: Page, path: string): Promise<Page> {
    return this.page(await this.go(new URL(path, page.url)), path);
  }

  /** Expects a page (not yet the redirect URI). */
  page(result: Page | SignInResult, what: string): Page {
    if ("html" in result) return result;
    throw new Error(`${what} ended at the redirect URI already`);
  }

  /** Expects the redirect URI's code. */
  done(result: Page | SignInResult, what: string): SignInResult {
    if ("code" in result) return result;
    throw new Error(`${what} ended at ${result.url.pathname}, not the redirect URI: ${result.html.slice(0, 300)}`);
  }

  private async go(first: URL, fields?: Record<string, string>): Promise<Page | SignInResult> {
    let url = first;
    let body = fields && form(fields);
    for (let hop = 0; hop < 10; hop++) {
      const headers: Record<string, string> = { accept: "text/html" };
      const cookie = this.jar.header(url);
      if (cookie) headers.cookie = cookie;
      if (body !== undefined) headers["content-type"] = FORM;
      const response = await this.http.request(url.toString(), body === undefined ? { headers } : { method: "POST", headers, body });
      this.jar.store(response.headers["set-cookie"]);
      const location = response.headers.location;
      if (!location || response.status < 300 || response.status >= 400) {
        expectStatus(response, 200, `${body === undefined ? "GET" : "POST"} ${url.pathname}`);
        return { url, html: response.body };
      }
      const next = new URL(location, url);
      if (next.toString().startsWith(REDIRECT_URI)) {
        const code = next.searchParams.get("code");
        if (!code || next.searchParams.get("state") !== this.started.state) throw new Error(`sign-in ended without a code: ${next}`);
        return { code, verifier: this.started.verifier };
      }
      url = next;
      body = undefined;
    }
    throw new Error(`${first.pathname}: too many redirects`);
  }
}

/** The interaction of a sign-in page (its form posts to /interaction/<uid>/login). */
function interactionOf(page: Page): string {
  const uid = /action="\/interaction\/([A-Za-z0-9_-]+)\/login"/.exec(page.html)?.[1];
  if (!uid) throw new Error(`no sign-in form at ${page.url.pathname}`);
  return uid;
}

/**
 * A person signing in with a code by mail from a fresh browser: the authorization request, the
 * sign-in page, "Email me a sign-in code" (the sign-in form posted to its button's formaction), the
 * code read from the mail and typed on the code page, the redirects to the client, the code exchange.
 */
export async function codeSignIn(http: HttpClient, target: Target, mailbox: Mailbox, email: string): Promise<void> {
  const browser = new Browser(http, target);
  const signInPage = await browser.start();
  const uid = interactionOf(signInPage);
  const mailed = mailbox.expectCode(email);
  const codePage = browser.page(await browser.submit(signInPage, `/interaction/${uid}/login`, { email, password: "" }, `/interaction/${uid}/email-code`), "the code request");
  const signedIn = await browser.submit(codePage, `/interaction/${uid}/code`, { code: await mailed });
  await exchange(http, target, browser.done(signedIn, "the code"));
}

/**
 * A person signing in with a password and an authenticator app from a fresh browser: the
 * authorization request, the sign-in page, the password, the second-factor page, the app's code of
 * now, the redirects to the client, the code exchange. A person's code works once per 30 seconds.
 */
export async function totpSignIn(http: HttpClient, target: Target, email: string, password: string, secret: string): Promise<void> {
  const browser = new Browser(http, target);
  const signInPage = await browser.start();
  const uid = interactionOf(signInPage);
  const secondFactor = browser.page(await browser.submit(signInPage, `/interaction/${uid}/login`, { email, password }), "the password");
  const code = OTPAuth.TOTP.generate({ secret: OTPAuth.Secret.fromBase32(secret) });
  const signedIn = await browser.submit(secondFactor, `/interaction/${uid}/second-factor/totp`, { code });
  await exchange(http, target, browser.done(signedIn, "the app's code"));
}

/**
 * A person signing up from a fresh browser: the authorization request, the sign-in page, "Create an
 * account", the email, the code read from the mail, a password, the redirects to the client (signed
 * in), the code exchange. The address must be new.
 */
export async function signUp(http: HttpClient, target: Target, mailbox: Mailbox, email: string, password: string): Promise<void> {
  const browser = new Browser(http, target);
  const signInPage = await browser.start();
  const uid = interactionOf(signInPage);
  const emailPage = await browser.get(signInPage, `/interaction/${uid}/sign-up`);
  const mailed = mailbox.expectCode(email);
  const codePage = browser.page(await browser.submit(emailPage, `/interaction/${uid}/sign-up`, { email }), "the sign-up request");
  const passwordPage = browser.page(await browser.submit(codePage, `/interaction/${uid}/sign-up/code`, { code: await mailed }), "the sign-up code");
  const signedIn = await browser.submit(passwordPage, `/interaction/${uid}/sign-up/password`, { password, repeat: password });
  await exchange(http, target, browser.done(signedIn, "the sign-up password"));
}

/**
 * A person signing in with a passkey from a fresh browser, as the sign-in page's script does it:
 * the authorization request, the sign-in page, the options (a challenge for this interaction), the
 * assertion signed by a software authenticator (ES256, node:crypto), the passkey form posted, the
 * redirects to the client, the code exchange.
 */
export async function passkeySignIn(http: HttpClient, target: Target, authenticator: SoftwareAuthenticator): Promise<void> {
  const browser = new Browser(http, target);
  const signInPage = await browser.start();
  const uid = interactionOf(signInPage);
  const passkeyForm = findForm(signInPage.html, (action) => action.endsWith(`/interaction/${uid}/passkey`));
  if (!passkeyForm) throw new Error("no passkey form on the sign-in page");
  const options = await browser.postJson(signInPage, `/interaction/${uid}/passkey/options`, passkeyForm.hidden._csrf!);
  const credential = JSON.stringify(authenticator.assert(options as Parameters<SoftwareAuthenticator["assert"]>[0]));
  const signedIn = await browser.submit(signInPage, `/interaction/${uid}/passkey`, { credential });
  await exchange(http, target, browser.done(signedIn, "the passkey"));
}

/**
 * A person signing in through an upstream OpenID Connect provider from a fresh browser: the
 * authorization request, the sign-in page, "Continue with <upstream>" (to the upstream's /auth), the
 * upstream's login and consent pages, its redirect to our callback, our IdP's code exchange with the
 * upstream and the ID token checked, the redirects to the client, the code exchange.
 */
export async function federatedSignIn(http: HttpClient, target: Target, upstreamId: string, login: string): Promise<void> {
  const browser = new Browser(http, target);
  const signInPage = await browser.start();
  const href = new RegExp(`href="(/interaction/[A-Za-z0-9_-]+/upstream/${upstreamId})"`).exec(signInPage.html)?.[1];
  if (!href) throw new Error(`no "Continue with" ${upstreamId} on the sign-in page`);
  const upstreamLogin = await browser.get(signInPage, href);
  let next = await browser.submitFirst(upstreamLogin, { login, password: "any" });
  if ("html" in next && next.html.includes('value="consent"')) next = await browser.submitFirst(next, {});
  await exchange(http, target, browser.done(next, "the upstream sign-in"));
}
