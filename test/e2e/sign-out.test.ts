// RP-initiated logout against a listening IdP, openid-client as the relying party: an id_token_hint
// that proves the current session and client signs out without the "Sign out?" page, with the same
// effects as a confirmed sign-out; without one, or with a hint for anything else, the page stays.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import * as oidc from "openid-client";
import { SignJWT, decodeJwt, decodeProtectedHeader } from "jose";
import { generateKeyPair } from "node:crypto";
import { promisify } from "node:util";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { Browser, type Page } from "../support/browser.ts";
import { discover, exchange, signIn, startAuthorization, POST_LOGOUT_URI, REDIRECT_URI } from "../support/oidc-flow.ts";

const alice = { email: "alice@example.com", password: "correct horse battery" };
const bob = { email: "bob@example.com", password: "bob's long password" };

let idp: TestIdp;
let web: oidc.Configuration; // public, first-party
let other: oidc.Configuration; // public, first-party, a second app
let aliceId: string;
let clockOffsetMs = 0;
let auditSeen = 0;

beforeAll(async () => {
  idp = await startTestIdp({ now: () => new Date(Date.now() + clockOffsetMs) });
  aliceId = (await idp.admin.addUser(alice)).id;
  await idp.admin.addUser(bob);
  for (const id of ["web", "other"]) {
    await idp.admin.addClient({ id, name: id === "web" ? "Web App" : "Other App", public: true, firstParty: true, redirectUris: [REDIRECT_URI], postLogoutRedirectUris: [POST_LOGOUT_URI] });
  }
  web = await discover(idp.issuer, "web");
  other = await discover(idp.issuer, "other");
});
afterAll(async () => idp?.close());
beforeEach(async () => {
  clockOffsetMs = 0;
  await newSignOutRows();
});

const atApp = (url: string) => url.startsWith(REDIRECT_URI) || url.startsWith(POST_LOGOUT_URI);

/** Signs in (in the given browser, or a new one) and exchanges the code. */
async function signedIn(config = web, { browser = new Browser(), credentials = alice, params = {} as Record<string, string> } = {}) {
  const start = await startAuthorization(config, { scope: "openid email", ...params });
  const page = await signIn(browser, start, credentials);
  expect(page.url.startsWith(REDIRECT_URI), page.html.slice(0, 300)).toBe(true);
  return { browser, tokens: await exchange(config, start, page.url) };
}

function endSessionUrl(config: oidc.Configuration, params: Record<string, string>): string {
  return oidc.buildEndSessionUrl(config, { post_logout_redirect_uri: POST_LOGOUT_URI, ...params }).toString();
}

/** Whether the browser's IdP session is still signed in: a new authorization comes straight back. */
async function stillSignedIn(browser: Browser, config = web): Promise<boolean> {
  const start = await startAuthorization(config, { scope: "openid email" });
  const page = await browser.follow(start.url.toString(), atApp);
  if (page.url.startsWith(REDIRECT_URI)) return true;
  expect(page.html).toContain('name="password"');
  return false;
}

function expectConfirmationPage(page: Page) {
  expect(page.status, page.html.slice(0, 300)).toBe(200);
  expect(page.location).toBeUndefined();
  expect(page.html).toContain("<h1>Sign out?</h1>");
}

async function expectInvalidGrant(promise: Promise<unknown>) {
  const failure = await promise.then(
    () => expect.fail("expected invalid_grant"),
    (reason: { error?: string }) => reason,
  );
  expect(failure.error).toBe("invalid_grant");
}

type AuditRow = { event: string; actor: string; user_id: string | null; client_id: string | null; details: Record<string, unknown> };
async function newSignOutRows(): Promise<AuditRow[]> {
  const { rows } = await idp.database.db.query<AuditRow & { id: string }>("SELECT * FROM audit_events WHERE id > $1 ORDER BY id", [auditSeen]);
  if (rows.length > 0) auditSeen = Number(rows.at(-1)!.id);
  return rows.filter((row) => row.event === "sign_out.succeeded").map(({ event, actor, user_id, client_id, details }) => ({ event, actor, user_id, client_id, details }));
}

describe("with a valid id_token_hint for this session and client", () => {
  it("signs out without the page: back to the post-logout URI with state, the session and its grant gone", async () => {
    const { browser, tokens } = await signedIn();
    expect(tokens.refresh_token).toBeTypeOf("string"); // first-party: one that ends with the IdP session
    expect(decodeJwt(tokens.id_token!).sid).toBeTypeOf("string"); // every ID token names its session

    const page = await browser.request(endSessionUrl(web, { id_token_hint: tokens.id_token!, state: "back-to-/settings" }));
    expect(page.status).toBe(303);
    expect(page.html).not.toContain("Sign out?");
    const back = new URL(page.location!);
    expect(back.origin + back.pathname).toBe(POST_LOGOUT_URI);
    expect(back.searchParams.get("state")).toBe("back-to-/settings");

    expect(await stillSignedIn(browser)).toBe(false);
    await expectInvalidGrant(oidc.refreshTokenGrant(web, tokens.refresh_token!));
    expect(await newSignOutRows()).toEqual([
      { event: "sign_out.succeeded", actor: `user:${aliceId}`, user_id: aliceId, client_id: "web", details: { confirmation: "id_token_hint" } },
    ]);
  });

  it("accepts the ID token of a refresh, the one a Convex app holds", async () => {
    const { browser, tokens } = await signedIn();
    const refreshed = await oidc.refreshTokenGrant(web, tokens.refresh_token!);
    expect(refreshed.id_token).not.toBe(tokens.id_token);
    const page = await browser.request(endSessionUrl(web, { id_token_hint: refreshed.id_token! }));
    expect(page.location?.startsWith(POST_LOGOUT_URI)).toBe(true);
    expect(await stillSignedIn(browser)).toBe(false);
  });

  it("ends the whole session, as the page's Sign out does: other apps signed in with it too", async () => {
    const { browser, tokens } = await signedIn();
    const otherApp = await signedIn(other, { browser });
    const page = await browser.request(endSessionUrl(web, { id_token_hint: tokens.id_token! }));
    expect(page.location?.startsWith(POST_LOGOUT_URI)).toBe(true);
    expect(await stillSignedIn(browser, other)).toBe(false);
    await expectInvalidGrant(oidc.refreshTokenGrant(other, otherApp.tokens.refresh_token!));
  });

  it("keeps an offline_access refresh token, as the page's Sign out does", async () => {
    const { browser, tokens } = await signedIn(web, { params: { scope: "openid email offline_access", prompt: "consent" } });
    const page = await browser.request(endSessionUrl(web, { id_token_hint: tokens.id_token! }));
    expect(page.location?.startsWith(POST_LOGOUT_URI)).toBe(true);
    expect(await stillSignedIn(browser)).toBe(false);
    expect((await oidc.refreshTokenGrant(web, tokens.refresh_token!)).id_token).toBeTypeOf("string");
  });

  it("shows the signed-out page when no post-logout URI is given", async () => {
    const { browser, tokens } = await signedIn();
    const page = await browser.follow(oidc.buildEndSessionUrl(web, { id_token_hint: tokens.id_token! }).toString());
    expect(page.status).toBe(200);
    expect(page.html).toContain("<h1>Signed out</h1>");
    expect(await stillSignedIn(browser)).toBe(false);
  });
});

describe("the confirmation page stays", () => {
  it("without an id_token_hint, and signs out once confirmed (audited as such)", async () => {
    const { browser } = await signedIn();
    const confirm = await browser.request(endSessionUrl(web, { client_id: "web" }));
    expectConfirmationPage(confirm);
    expect(await stillSignedIn(browser)).toBe(true);
    const done = await browser.submit(confirm, "/session/end/confirm", { logout: "yes" }, atApp);
    expect(done.url.startsWith(POST_LOGOUT_URI)).toBe(true);
    expect(await stillSignedIn(browser)).toBe(false);
    expect(await newSignOutRows()).toEqual([
      { event: "sign_out.succeeded", actor: `user:${aliceId}`, user_id: aliceId, client_id: "web", details: { confirmation: "form" } },
    ]);
  });

  it("for a hint of another user", async () => {
    const { browser } = await signedIn();
    const bobs = await signedIn(web, { credentials: bob });
    expectConfirmationPage(await browser.request(endSessionUrl(web, { id_token_hint: bobs.tokens.id_token! })));
    expect(await stillSignedIn(browser)).toBe(true);
  });

  it("for a hint from another session of the same user and client", async () => {
    const { browser } = await signedIn();
    const elsewhere = await signedIn(); // another browser
    expectConfirmationPage(await browser.request(endSessionUrl(web, { id_token_hint: elsewhere.tokens.id_token! })));
    expect(await stillSignedIn(browser)).toBe(true);
    expect(await stillSignedIn(elsewhere.browser)).toBe(true);
  });

  it("for a hint from an earlier sign-in in the same browser", async () => {
    const first = await signedIn();
    await first.browser.request(endSessionUrl(web, { id_token_hint: first.tokens.id_token! }));
    expect(await stillSignedIn(first.browser)).toBe(false);
    await signedIn(web, { browser: first.browser });
    expectConfirmationPage(await first.browser.request(endSessionUrl(web, { id_token_hint: first.tokens.id_token! })));
    expect(await stillSignedIn(first.browser)).toBe(true);
  });

  it("for a hint of another client that is not signed in with this session", async () => {
    const { browser } = await signedIn();
    const otherApp = await signedIn(other); // another browser
    expectConfirmationPage(await browser.request(endSessionUrl(other, { id_token_hint: otherApp.tokens.id_token! })));
    expect(await stillSignedIn(browser)).toBe(true);
  });

  it("for a hint of another client that is signed in with this session, when the request names this one", async () => {
    const { browser } = await signedIn();
    const otherApp = await signedIn(other, { browser });
    // oidc-provider refuses the mismatch itself: no sign-out either way.
    const page = await browser.request(endSessionUrl(web, { client_id: "web", id_token_hint: otherApp.tokens.id_token! }));
    expect(page.status).toBe(400);
    expect(page.location).toBeUndefined();
    expect(await stillSignedIn(browser)).toBe(true);
  });

  /** Signs in as before every ID token named its session (they had no sid): such tokens prove none. */
  async function signedInWithoutSid(...args: Parameters<typeof signedIn>) {
    const prototype = idp.app.provider.Client.prototype as unknown as { includeSid(): boolean };
    const includeSid = prototype.includeSid;
    prototype.includeSid = () => false;
    try {
      const result = await signedIn(...args);
      expect(decodeJwt(result.tokens.id_token!).sid).toBeUndefined();
      return result;
    } finally {
      prototype.includeSid = includeSid;
    }
  }

  it("for a hint without sid, even from this session", async () => {
    const { browser, tokens } = await signedInWithoutSid();
    expectConfirmationPage(await browser.request(endSessionUrl(web, { id_token_hint: tokens.id_token! })));
    expect(await stillSignedIn(browser)).toBe(true);
  });

  it("for a hint without sid of another client that is not signed in with this session", async () => {
    const { browser } = await signedIn();
    const otherApp = await signedInWithoutSid(other); // another browser, the same user
    expectConfirmationPage(await browser.request(endSessionUrl(other, { id_token_hint: otherApp.tokens.id_token! })));
    expect(await stillSignedIn(browser)).toBe(true);
  });

  it("for an expired hint", async () => {
    const { browser, tokens } = await signedIn();
    clockOffsetMs = (idp.config.idTokenTtlSeconds + 1) * 1000;
    expectConfirmationPage(await browser.request(endSessionUrl(web, { id_token_hint: tokens.id_token! })));
    expect(await stillSignedIn(browser)).toBe(true);
    clockOffsetMs = (idp.config.idTokenTtlSeconds - 60) * 1000; // the same hint, still valid: no page
    expect((await browser.request(endSessionUrl(web, { id_token_hint: tokens.id_token! }))).location?.startsWith(POST_LOGOUT_URI)).toBe(true);
  });

  it("for a hint whose signature does not match (the provider refuses it)", async () => {
    const { browser, tokens } = await signedIn();
    const [header, payload, signature] = tokens.id_token!.split(".");
    const claims = JSON.parse(Buffer.from(payload!, "base64url").toString());
    const tampered = [header, Buffer.from(JSON.stringify({ ...claims, exp: claims.exp + 3600 })).toString("base64url"), signature].join(".");
    const page = await browser.request(endSessionUrl(web, { id_token_hint: tampered }));
    expect(page.status).toBe(400);
    expect(page.location).toBeUndefined();
    expect(await stillSignedIn(browser)).toBe(true);
  });

  it("for a hint signed by someone else with this IdP's key id (the provider refuses it)", async () => {
    const { browser, tokens } = await signedIn();
    const { privateKey } = await promisify(generateKeyPair)("rsa", { modulusLength: 2048 });
    const forged = await new SignJWT(decodeJwt(tokens.id_token!))
      .setProtectedHeader({ alg: "RS256", kid: decodeProtectedHeader(tokens.id_token!).kid! })
      .sign(privateKey);
    const page = await browser.request(endSessionUrl(web, { id_token_hint: forged }));
    expect(page.status).toBe(400);
    expect(await stillSignedIn(browser)).toBe(true);
  });

  it("when no one is signed in: the provider's own sign-out form, nothing to end", async () => {
    const { tokens } = await signedIn();
    const stranger = new Browser();
    const page = await stranger.request(endSessionUrl(web, { id_token_hint: tokens.id_token! }));
    expect(page.html).not.toContain("Sign out?");
    expect(page.html).toContain('name="logout" value="yes"'); // oidc-provider's form_post to the confirmation
    expect(await newSignOutRows()).toEqual([]);
  });
});
