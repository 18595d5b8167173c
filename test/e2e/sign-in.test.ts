// End to end against a listening IdP on real PostgreSQL: openid-client is the relying party, a
// cookie-keeping browser walks the real login form, and every ID token is checked the way Convex does.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import argon2 from "argon2";
import * as oidc from "openid-client";
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { Browser } from "../support/browser.ts";
import { discover, exchange, signIn, startAuthorization, POST_LOGOUT_URI, REDIRECT_URI } from "../support/oidc-flow.ts";
import { verifyConvexToken } from "../support/convex-verifier.ts";

const alice = { email: "alice@example.com", password: "correct horse battery", name: "Alice Example" };
const bob = { email: "bob@example.com", password: "bob's long password" };

let idp: TestIdp;
let web: oidc.Configuration; // public, first-party
let partner: oidc.Configuration; // confidential, third-party
let partnerSecret: string;
let aliceId: string;
let clockOffsetMs = 0;

beforeAll(async () => {
  idp = await startTestIdp({ now: () => new Date(Date.now() + clockOffsetMs) });
  aliceId = (await idp.admin.addUser({ ...alice, emailVerified: true })).id;
  await idp.admin.addUser(bob);
  await idp.admin.addClient({
    id: "web",
    name: "Web App",
    public: true,
    firstParty: true,
    redirectUris: [REDIRECT_URI],
    postLogoutRedirectUris: [POST_LOGOUT_URI],
  });
  partnerSecret = (await idp.admin.addClient({ id: "partner", name: "Partner", public: false, firstParty: false, redirectUris: [REDIRECT_URI] }))
    .secret!;
  web = await discover(idp.issuer, "web");
  partner = await discover(idp.issuer, "partner", partnerSecret);
});

afterAll(async () => idp?.close());
beforeEach(() => {
  clockOffsetMs = 0;
});
afterEach(() => vi.restoreAllMocks());

async function signedIn(config = web, credentials: { email: string; password: string } = alice, params: Record<string, string> = {}) {
  const browser = new Browser();
  const start = await startAuthorization(config, params);
  const page = await signIn(browser, start, credentials);
  expect(page.url.startsWith(REDIRECT_URI), page.html.slice(0, 300)).toBe(true);
  const tokens = await exchange(config, start, page.url);
  return { browser, tokens };
}

/** openid-client reports an OAuth error in the body as `error`, one in WWW-Authenticate as a challenge. */
async function expectOAuthError(promise: Promise<unknown>, error: string) {
  const failure = await promise.then(
    () => expect.fail(`expected the request to fail with ${error}`),
    (reason: { error?: string; cause?: { parameters?: { error?: string } }[] }) => reason,
  );
  expect(failure.error ?? failure.cause?.[0]?.parameters?.error).toBe(error);
}

describe("authorization code + PKCE through the login form", () => {
  it("issues an RS256 ID token that the Convex backend accepts in both auth.config forms", async () => {
    const { tokens } = await signedIn();
    const idToken = tokens.id_token!;

    const header = decodeProtectedHeader(idToken);
    const jwks = await (await fetch(`${idp.issuer}/jwks`)).json();
    expect(header.alg).toBe("RS256");
    expect(jwks.keys.map((key: { kid: string }) => key.kid)).toContain(header.kid);

    const { payload } = await jwtVerify(idToken, createRemoteJWKSet(new URL(`${idp.issuer}/jwks`)), {
      issuer: idp.issuer,
      audience: "web",
      algorithms: ["RS256"],
    });
    expect(payload).toMatchObject({
      iss: idp.issuer,
      aud: "web",
      sub: aliceId,
      email: alice.email,
      email_verified: true,
      name: alice.name,
    });
    for (const claim of ["iat", "exp", "auth_time", "updated_at"]) expect(typeof payload[claim]).toBe("number");
    expect(payload.exp! - payload.iat!).toBe(idp.config.idTokenTtlSeconds);
    expect(payload.nonce).toBeTypeOf("string");

    const customJwt = await verifyConvexToken(idToken, [
      { type: "customJwt", issuer: idp.issuer, jwks: `${idp.issuer}/jwks`, algorithm: "RS256", applicationID: "web" },
    ]);
    expect(customJwt).toMatchObject({ tokenIdentifier: `${idp.issuer}|${aliceId}`, email: alice.email, email_verified: true });

    const oidcForm = await verifyConvexToken(idToken, [{ domain: idp.issuer, applicationID: "web" }]);
    expect(oidcForm).toMatchObject({ tokenIdentifier: `${idp.issuer}|${aliceId}`, emailVerified: true, name: alice.name });
  });

  it("serves the same claims at userinfo", async () => {
    const { tokens } = await signedIn();
    const info = await oidc.fetchUserInfo(web, tokens.access_token, aliceId);
    expect(info).toMatchObject({ sub: aliceId, email: alice.email, email_verified: true, name: alice.name });
  });

  it("asks a third-party client's user for consent and authenticates the client with its secret", async () => {
    const browser = new Browser();
    const start = await startAuthorization(partner, { scope: "openid email" });
    const login = await browser.follow(start.url.toString(), (url) => url.startsWith(REDIRECT_URI));
    const consent = await browser.submit(login, "/login", alice, (url) => url.startsWith(REDIRECT_URI));
    expect(consent.html).toContain("Allow Partner?");
    expect(consent.html).toContain("See your email address");
    const callback = await browser.submit(consent, "/confirm", {}, (url) => url.startsWith(REDIRECT_URI));
    const tokens = await exchange(partner, start, callback.url);
    expect(tokens.claims()).toMatchObject({ sub: aliceId, aud: "partner", email: alice.email });

    const wrongSecret = await discover(idp.issuer, "partner", "not-the-secret");
    const again = await startAuthorization(wrongSecret, { scope: "openid" });
    const page = await browser.follow(again.url.toString(), (url) => url.startsWith(REDIRECT_URI));
    await expectOAuthError(exchange(wrongSecret, again, page.url), "invalid_client");
  });

  it("returns to the client with access_denied when the user denies consent", async () => {
    const browser = new Browser();
    const start = await startAuthorization(partner, { scope: "openid" });
    const login = await browser.follow(start.url.toString());
    const consent = await browser.submit(login, "/login", alice, (url) => url.startsWith(REDIRECT_URI));
    const denied = await browser.submit(consent, "/abort", {}, (url) => url.startsWith(REDIRECT_URI));
    expect(new URL(denied.url).searchParams.get("error")).toBe("access_denied");
  });
});

describe("refresh tokens", () => {
  it("rotate, and every refresh returns a new ID token string", async () => {
    const { tokens } = await signedIn();
    const first = await oidc.refreshTokenGrant(web, tokens.refresh_token!);
    const second = await oidc.refreshTokenGrant(web, first.refresh_token!);
    const idTokens = new Set([tokens.id_token, first.id_token, second.id_token]);
    expect(idTokens.size).toBe(3);
    expect(new Set([tokens.refresh_token, first.refresh_token, second.refresh_token]).size).toBe(3);
    await verifyConvexToken(second.id_token!, [
      { type: "customJwt", issuer: idp.issuer, jwks: `${idp.issuer}/jwks`, algorithm: "RS256", applicationID: "web" },
    ]);
  });

  it("refuses a rotated token replayed within the grace window without revoking the grant", async () => {
    const { tokens } = await signedIn();
    const rotated = await oidc.refreshTokenGrant(web, tokens.refresh_token!);
    await expectOAuthError(oidc.refreshTokenGrant(web, tokens.refresh_token!), "invalid_grant");
    const next = await oidc.refreshTokenGrant(web, rotated.refresh_token!);
    expect(next.id_token).toBeTypeOf("string");
  });

  it("revokes the whole grant when a rotated token is replayed after the grace window", async () => {
    const { tokens } = await signedIn();
    const rotated = await oidc.refreshTokenGrant(web, tokens.refresh_token!);
    clockOffsetMs = (idp.config.refreshTokenReuseGraceSeconds + 1) * 1000;
    await expectOAuthError(oidc.refreshTokenGrant(web, tokens.refresh_token!), "invalid_grant");
    await expectOAuthError(oidc.refreshTokenGrant(web, rotated.refresh_token!), "invalid_grant");
  });

  it("lets exactly one of several concurrent refreshes of one token win", async () => {
    const { tokens } = await signedIn();
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => oidc.refreshTokenGrant(web, tokens.refresh_token!)));
    const winners = results.filter((result) => result.status === "fulfilled");
    expect(winners).toHaveLength(1);
    const winner = (winners[0] as PromiseFulfilledResult<oidc.TokenEndpointResponse>).value;
    expect((await oidc.refreshTokenGrant(web, winner.refresh_token!)).id_token).toBeTypeOf("string");
  });

  it("stop working once revoked", async () => {
    const { tokens } = await signedIn();
    await oidc.tokenRevocation(web, tokens.refresh_token!);
    await expectOAuthError(oidc.refreshTokenGrant(web, tokens.refresh_token!), "invalid_grant");
  });

  it("stop working when the user is disabled", async () => {
    const carol = { email: "carol@example.com", password: "carol's password" };
    await idp.admin.addUser(carol);
    const { tokens } = await signedIn(web, carol);
    await idp.admin.users.setDisabled(carol.email, true);
    await expectOAuthError(oidc.refreshTokenGrant(web, tokens.refresh_token!), "invalid_grant");
  });
});

describe("logout", () => {
  // Without an id_token_hint the IdP asks first; with one for this session it does not (sign-out.test.ts).
  it("ends the IdP session and returns to a registered post-logout URI", async () => {
    const { browser } = await signedIn();
    const endSession = oidc.buildEndSessionUrl(web, { client_id: "web", post_logout_redirect_uri: POST_LOGOUT_URI });
    const confirm = await browser.follow(endSession.toString());
    expect(confirm.html).toContain("Sign out?");
    const done = await browser.submit(confirm, "/session/end/confirm", { logout: "yes" }, (url) => url.startsWith(POST_LOGOUT_URI));
    expect(done.url.startsWith(POST_LOGOUT_URI)).toBe(true);

    // Signed out: a new authorization request asks for the password again.
    const start = await startAuthorization(web);
    const page = await browser.follow(start.url.toString(), (url) => url.startsWith(REDIRECT_URI));
    expect(page.html).toContain('name="password"');
  });

  it("refuses an unregistered post-logout redirect URI", async () => {
    const { browser, tokens } = await signedIn();
    const endSession = oidc.buildEndSessionUrl(web, {
      id_token_hint: tokens.id_token!,
      post_logout_redirect_uri: "https://evil.example/",
    });
    const page = await browser.request(endSession.toString());
    expect(page.status).toBe(400);
    expect(page.location).toBeUndefined();
  });

  it("keeps the session when the user chooses to stay signed in", async () => {
    const { browser } = await signedIn();
    const endSession = oidc.buildEndSessionUrl(web, { client_id: "web", post_logout_redirect_uri: POST_LOGOUT_URI });
    const confirm = await browser.follow(endSession.toString());
    await browser.submit(confirm, "/session/end/confirm", {}, (url) => url.startsWith(POST_LOGOUT_URI));
    const start = await startAuthorization(web);
    const page = await browser.follow(start.url.toString(), (url) => url.startsWith(REDIRECT_URI));
    expect(page.url.startsWith(REDIRECT_URI)).toBe(true);
  });
});

describe("refusals", () => {
  it("shows an error page, not a redirect, for an unregistered redirect URI", async () => {
    const start = await startAuthorization(web, { redirect_uri: "http://localhost:5173/elsewhere" });
    const page = await new Browser().request(start.url.toString());
    expect(page.status).toBe(400);
    expect(page.location).toBeUndefined();
    expect(page.html).toContain("Unregistered redirect");
  });

  it("refuses a reused authorization code", async () => {
    const browser = new Browser();
    const start = await startAuthorization(web);
    const callback = await signIn(browser, start, alice);
    await exchange(web, start, callback.url);
    await expectOAuthError(exchange(web, start, callback.url), "invalid_grant");
  });

  it("requires PKCE from a public client", async () => {
    const start = await startAuthorization(web, {}, { pkce: false });
    const page = await new Browser().request(start.url.toString());
    const callback = new URL(page.location!);
    expect(callback.origin + callback.pathname).toBe(REDIRECT_URI);
    expect(callback.searchParams.get("error")).toBe("invalid_request");
    expect(callback.searchParams.get("error_description")).toMatch(/PKCE/);
  });

  it("requires PKCE from a confidential client too", async () => {
    const start = await startAuthorization(partner, {}, { pkce: false });
    const callback = new URL((await new Browser().request(start.url.toString())).location!);
    expect(callback.origin + callback.pathname).toBe(REDIRECT_URI);
    expect(callback.searchParams.get("error")).toBe("invalid_request");
    expect(callback.searchParams.get("error_description")).toMatch(/PKCE/);
  });

  it("lets a confidential client sign people in without PKCE when CONFIDENTIAL_CLIENTS_REQUIRE_PKCE=false, never a public one", async () => {
    const lenient = await startTestIdp({ env: { CONFIDENTIAL_CLIENTS_REQUIRE_PKCE: "false" } });
    try {
      await lenient.admin.addUser(alice);
      const secret = (await lenient.admin.addClient({ id: "server-app", public: false, firstParty: true, redirectUris: [REDIRECT_URI] })).secret!;
      await lenient.admin.addClient({ id: "spa", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
      const serverApp = await discover(lenient.issuer, "server-app", secret);
      const start = await startAuthorization(serverApp, {}, { pkce: false });
      const page = await signIn(new Browser(), start, alice);
      expect(page.url.startsWith(REDIRECT_URI), page.html.slice(0, 300)).toBe(true);
      const tokens = await oidc.authorizationCodeGrant(serverApp, new URL(page.url), { expectedState: start.state, expectedNonce: start.nonce });
      expect(tokens.id_token).toBeTypeOf("string");

      const spaStart = await startAuthorization(await discover(lenient.issuer, "spa"), {}, { pkce: false });
      const refused = new URL((await new Browser().request(spaStart.url.toString())).location!);
      expect(refused.searchParams.get("error")).toBe("invalid_request");
    } finally {
      await lenient.close();
    }
  });

  it("answers a wrong password and an unknown email with the same page, after the same argon2 work", async () => {
    // The IdP runs in this process: watch argon2 itself verify (idp/accounts/sign-in.test.ts has the detail).
    const verified: string[] = [];
    const verify = argon2.verify.bind(argon2);
    vi.spyOn(argon2, "verify").mockImplementation(async (hash, ...rest) => {
      const ok = await verify(hash, ...rest);
      verified.push(/^\$argon2id\$v=19\$([^$]+)\$/.exec(hash)?.[1]?.split(",").sort().join(",") ?? `unexpected hash ${hash.slice(0, 30)}`);
      return ok;
    });
    const { argon2MemoryKib: m, argon2Iterations: t, argon2Parallelism: p } = idp.config;
    const configuredCost = `m=${m},p=${p},t=${t}`;

    const browser = new Browser();
    const start = await startAuthorization(web);
    const login = await browser.follow(start.url.toString());
    const wrongPassword = await browser.submit(login, "/login", { email: alice.email, password: "wrong password!" });
    expect(verified).toEqual([configuredCost]);
    const unknownEmail = await browser.submit(wrongPassword, "/login", { email: "nobody@example.com", password: "wrong password!" });
    expect(verified).toEqual([configuredCost, configuredCost]);
    vi.restoreAllMocks();
    expect(wrongPassword.status).toBe(401);
    expect(unknownEmail.status).toBe(401);
    const normalise = (html: string) => html.replace(/value="[^"]*"/g, 'value=""');
    expect(normalise(unknownEmail.html)).toBe(normalise(wrongPassword.html));
    expect(wrongPassword.html).toContain("Incorrect email or password.");
    // The form still works after failures.
    const ok = await browser.submit(unknownEmail, "/login", alice, (url) => url.startsWith(REDIRECT_URI));
    expect(ok.url.startsWith(REDIRECT_URI)).toBe(true);
  });

  it("does not sign in a disabled user", async () => {
    const dave = { email: "dave@example.com", password: "dave's password" };
    await idp.admin.addUser(dave);
    await idp.admin.users.setDisabled(dave.email, true);
    const browser = new Browser();
    const start = await startAuthorization(web);
    const page = await signIn(browser, start, dave);
    expect(page.status).toBe(401);
    expect(page.html).toContain("This account is disabled");
  });
});
