// Pages that lose a race with a sign-out in another tab, against a listening IdP with a cookie-sharing
// browser: the sign-in, consent and cancel forms posted while (or after) the session ends always land
// on the "sign-in has expired" page, and a sign-out confirmed after the session ended on the
// signed-out page; never a raw 400 invalid_request or a 500. The sign-out is placed at each step of
// the form's handling by running it just before that step (in this process, where the IdP runs).
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import argon2 from "argon2";
import * as oidc from "openid-client";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { Browser, findForm, type Page } from "../support/browser.ts";
import { discover, exchange, signIn, startAuthorization, POST_LOGOUT_URI, REDIRECT_URI } from "../support/oidc-flow.ts";

const alice = { email: "alice@example.com", password: "correct horse battery" };
const ITERATIONS = 24;

let idp: TestIdp;
let web: oidc.Configuration; // public, first-party
let partner: oidc.Configuration; // confidential, third-party: asks for consent

beforeAll(async () => {
  // Many sign-ins from one address within a minute: the limits are not what is tested here.
  idp = await startTestIdp({ env: { SIGN_IN_LIMIT_PER_IP: "0", SIGN_IN_LIMIT_PER_ACCOUNT: "0", REQUEST_LIMIT_PER_IP: "0" } });
  await idp.admin.addUser(alice);
  await idp.admin.addClient({ id: "web", name: "Web App", public: true, firstParty: true, redirectUris: [REDIRECT_URI], postLogoutRedirectUris: [POST_LOGOUT_URI] });
  const secret = (await idp.admin.addClient({ id: "partner", name: "Partner", public: false, firstParty: false, redirectUris: [REDIRECT_URI], postLogoutRedirectUris: [POST_LOGOUT_URI] }))
    .secret!;
  web = await discover(idp.issuer, "web");
  partner = await discover(idp.issuer, "partner", secret);
});
afterAll(async () => idp?.close());
afterEach(() => vi.restoreAllMocks());

const atApp = (url: string) => url.startsWith(REDIRECT_URI) || url.startsWith(POST_LOGOUT_URI);

/** A browser signed in to the IdP (through web), as every tab of it is. */
async function signedInBrowser(): Promise<Browser> {
  const browser = new Browser();
  const start = await startAuthorization(web, { scope: "openid email" });
  const page = await signIn(browser, start, alice);
  expect(page.url.startsWith(REDIRECT_URI), page.html.slice(0, 300)).toBe(true);
  await exchange(web, start, page.url);
  return browser;
}

/** The sign-out page of "another tab" (the same cookies), not yet confirmed. */
async function signOutPage(browser: Browser): Promise<Page> {
  const page = await browser.request(`${idp.issuer}/session/end?${new URLSearchParams({ client_id: "web", post_logout_redirect_uri: POST_LOGOUT_URI })}`);
  expect(page.html).toContain("<h1>Sign out?</h1>");
  return page;
}

async function confirmSignOut(browser: Browser, page: Page): Promise<Page> {
  return browser.submit(page, "/session/end/confirm", { logout: "yes" }, atApp);
}

/** Signs the browser's IdP session out from another tab: the sign-out page, then its confirmation. */
async function signOutElsewhere(browser: Browser): Promise<void> {
  const done = await confirmSignOut(browser, await signOutPage(browser));
  expect(done.url.startsWith(POST_LOGOUT_URI), done.html.slice(0, 300)).toBe(true);
}

/** Posts a form of the page as a browser does, then follows redirects until a page or the app. */
async function post(browser: Browser, page: Page, action: string, fields: Record<string, string> = {}): Promise<Page> {
  const form = findForm(page.html, action);
  return browser.request(new URL(form.action, page.url).toString(), { form: { ...form.hidden, ...fields } });
}
async function followToEnd(browser: Browser, page: Page): Promise<Page> {
  return page.location && !atApp(page.location) ? browser.follow(page.location, atApp) : page;
}

function expectExpiredSignIn(page: Page, context: string) {
  expect(page.location && atApp(page.location) ? `redirected to ${page.location}` : page.status, `${context}: ${page.html.slice(0, 400)}`).toBe(400);
  expect(page.html, context).toContain("<h1>This sign-in has expired</h1>");
  expect(page.html, context).toContain("Go back to the application and sign in again.");
  expect(page.html, context).not.toContain("invalid_request");
}

/** Runs `before` just before the next call of object[method], then the real method. */
function justBefore<T extends object, K extends keyof T & string>(object: T, method: K, before: () => Promise<void>) {
  type Method = (...args: unknown[]) => Promise<unknown>;
  const target = object as unknown as Record<string, Method>;
  const original = target[method]!.bind(object);
  vi.spyOn(target, method).mockImplementationOnce(async (...args: unknown[]) => {
    await before();
    return original(...args);
  });
}

type Moment = "before the post" | "while the password is checked" | "before the interaction finishes" | "before the redirect is followed" | "at the same time";
const MOMENTS: Moment[] = ["before the post", "while the password is checked", "before the interaction finishes", "before the redirect is followed", "at the same time"];

/**
 * Posts `action` on `page` with the sign-out placed at `moment`, and returns where the browser ends up.
 * The sign-out page is fetched first, so "at the same time" races only the confirmation with the post.
 */
async function raceSignOut(browser: Browser, page: Page, action: string, fields: Record<string, string>, moment: Moment): Promise<Page> {
  const confirmation = await signOutPage(browser);
  const signOut = async () => {
    const done = await confirmSignOut(browser, confirmation);
    expect(done.url.startsWith(POST_LOGOUT_URI), done.html.slice(0, 300)).toBe(true);
  };
  switch (moment) {
    case "before the post":
      await signOut();
      return followToEnd(browser, await post(browser, page, action, fields));
    case "while the password is checked":
      justBefore(argon2, "verify", signOut);
      return followToEnd(browser, await post(browser, page, action, fields));
    case "before the interaction finishes":
      justBefore(idp.app.provider, "interactionResult", signOut);
      return followToEnd(browser, await post(browser, page, action, fields));
    case "before the redirect is followed": {
      const posted = await post(browser, page, action, fields);
      await signOut();
      return followToEnd(browser, posted);
    }
    case "at the same time": {
      const [posted] = await Promise.all([post(browser, page, action, fields), signOut()]);
      return followToEnd(browser, posted);
    }
  }
}

describe("the sign-in form against a sign-out in another tab", () => {
  it(`always ends on the expired page (${ITERATIONS} runs, the sign-out at every step)`, { timeout: 180_000 }, async () => {
    for (let i = 0; i < ITERATIONS; i++) {
      const moment = MOMENTS[i % MOMENTS.length]!;
      const browser = await signedInBrowser();
      // The application asks the signed-in person to sign in again: the page belongs to this session.
      const start = await startAuthorization(web, { scope: "openid email", prompt: "login" });
      const login = await browser.follow(start.url.toString(), atApp);
      expect(login.html).toContain('name="password"');
      const end = await raceSignOut(browser, login, "/login", alice, moment);
      expectExpiredSignIn(end, `run ${i}, sign-out ${moment}`);
      // And the sign-out stands: the next sign-in asks for the password.
      const again = await browser.follow((await startAuthorization(web)).url.toString(), atApp);
      expect(again.html, `run ${i}, sign-out ${moment}`).toContain('name="password"');
    }
  });
});

describe("the consent page against a sign-out in another tab", () => {
  const consentMoments = MOMENTS.filter((moment) => moment !== "while the password is checked");

  async function consentPage(browser: Browser, scope = "openid email"): Promise<Page> {
    const start = await startAuthorization(partner, { scope });
    const page = await browser.follow(start.url.toString(), atApp);
    expect(page.html).toContain("Allow Partner?");
    return page;
  }

  it.each(consentMoments)("Allow ends on the expired page when the sign-out comes %s", async (moment) => {
    const browser = await signedInBrowser();
    expectExpiredSignIn(await raceSignOut(browser, await consentPage(browser), "/confirm", {}, moment), `Allow, sign-out ${moment}`);
  });

  it.each(consentMoments)("Deny ends on the expired page when the sign-out comes %s", async (moment) => {
    const browser = await signedInBrowser();
    expectExpiredSignIn(await raceSignOut(browser, await consentPage(browser), "/abort", {}, moment), `Deny, sign-out ${moment}`);
  });

  it("Allow ends on the expired page when the sign-out revoked the grant it adds to", async () => {
    const browser = await signedInBrowser();
    // Partner already holds a grant for openid; asking for more shows the page for that grant.
    const first = await consentPage(browser, "openid");
    expect((await browser.submit(first, "/confirm", {}, atApp)).url.startsWith(REDIRECT_URI)).toBe(true);
    const more = await consentPage(browser, "openid email");
    const confirmation = await signOutPage(browser);
    justBefore(idp.app.provider.Grant, "find", async () => {
      await confirmSignOut(browser, confirmation); // revokes partner's grant with the session
    });
    expectExpiredSignIn(await followToEnd(browser, await post(browser, more, "/confirm")), "Allow after the grant was revoked");
  });

  it("the consent a first-party client gets on its own ends on the expired page too", async () => {
    const browser = await signedInBrowser();
    const confirmation = await signOutPage(browser);
    justBefore(idp.app.provider, "interactionResult", () => confirmSignOut(browser, confirmation).then(() => undefined));
    // prompt=consent: web's consent is given by the IdP itself at GET /interaction/<uid>.
    const start = await startAuthorization(web, { scope: "openid email", prompt: "consent" });
    expectExpiredSignIn(await browser.follow(start.url.toString(), atApp), "first-party consent");
  });
});

describe("the sign-out page against a sign-out in another tab", () => {
  function expectSignedOutPage(page: Page, context: string) {
    // Not an error: the person wanted to be signed out, and is.
    expect(page.status, `${context}: ${page.html.slice(0, 400)}`).toBe(200);
    expect(page.location, context).toBeUndefined();
    expect(page.html, context).toContain("<h1>Signed out</h1>");
  }

  it("confirmed after the session ended elsewhere: the signed-out page", async () => {
    const browser = await signedInBrowser();
    const older = await signOutPage(browser);
    await signOutElsewhere(browser);
    expectSignedOutPage(await confirmSignOut(browser, older), "confirm after sign-out");
    // "Stay signed in" on it: the same, since no one is signed in.
    expectSignedOutPage(await browser.submit(older, "/session/end/confirm", {}, atApp), "stay signed in after sign-out");
  });

  it("confirmed after the application signed out with its id_token_hint elsewhere: the signed-out page", async () => {
    const browser = new Browser();
    const start = await startAuthorization(web, { scope: "openid email" });
    const tokens = await exchange(web, start, (await signIn(browser, start, alice)).url);
    const older = await signOutPage(browser);
    const skipped = await browser.request(oidc.buildEndSessionUrl(web, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: POST_LOGOUT_URI }).toString());
    expect(skipped.location?.startsWith(POST_LOGOUT_URI)).toBe(true);
    expectSignedOutPage(await confirmSignOut(browser, older), "confirm after a sign-out without page");
  });

  it("an older page confirmed while still signed in says so, and the newer page still signs out", async () => {
    const browser = await signedInBrowser();
    const older = await signOutPage(browser);
    const newer = await signOutPage(browser); // a second tab: the older page's token is replaced
    const stale = await confirmSignOut(browser, older);
    expect(stale.status, stale.html.slice(0, 400)).toBe(400);
    expect(stale.html).toContain("<h1>This sign-out has expired</h1>");
    expect(stale.html).toContain("You are still signed in.");
    expect((await confirmSignOut(browser, newer)).url.startsWith(POST_LOGOUT_URI)).toBe(true);
  });

  it("the same page confirmed twice (a double click): signed out, then the signed-out page", async () => {
    const browser = await signedInBrowser();
    const page = await signOutPage(browser);
    expect((await confirmSignOut(browser, page)).url.startsWith(POST_LOGOUT_URI)).toBe(true);
    expectSignedOutPage(await confirmSignOut(browser, page), "second click");
  });
});
