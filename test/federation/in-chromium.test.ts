// Sign-in through an upstream provider in a real Chromium, every step a click or keystroke:
// "Continue with Corp SSO" on our sign-in page, the upstream's own login and consent pages (a
// second node-oidc-provider), back into the application with OUR ID token (strict Convex verifier,
// our sub). The new pages (the buttons, the link page, an upstream failure) pass axe with no serious
// or critical finding, the markup rules, and show no CSP violation or script error at 320 px; so
// does the account page's list of linked providers.
import http from "node:http";
import { mkdir } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type * as oidc from "openid-client";
import type { BrowserContext, Page } from "playwright-core";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { launchChromium, type Chromium } from "../support/chromium.ts";
import { discover, exchange, startAuthorization } from "../support/oidc-flow.ts";
import { verifyConvexToken } from "../support/convex-verifier.ts";
import { startUpstreamIdp, type UpstreamIdp } from "../support/upstream-idp.ts";
import { createUpstreamProviders, redirectUriFor, UPSTREAM_SECRET_INFO } from "../../idp/federation/upstream-providers.ts";
import { loadCookieKeys } from "../../idp/keys/cookie-keys.ts";
import { createSealer } from "../../idp/mail/seal.ts";
import { storesOver } from "../../idp/store/stores.ts";
import { axeProblems, markupProblems, NO_MARKUP_PROBLEMS, overflow } from "../pages/page-checks.ts";

const ARTIFACTS = fileURLToPath(new URL("../../test-artifacts/pages/", import.meta.url));

let idp: TestIdp;
let web: oidc.Configuration;
let corp: UpstreamIdp;
let application: http.Server;
let callbackUri: string;
let chromium: Chromium | undefined;
let people = 0;

beforeAll(async () => {
  const launching = launchChromium().then((launched) => (chromium = launched));
  launching.catch(() => {});
  await mkdir(ARTIFACTS, { recursive: true });
  application = http.createServer((_, response) => response.writeHead(200, { "content-type": "text/plain" }).end("the application"));
  await new Promise<void>((resolve) => application.listen(0, "127.0.0.1", resolve));
  callbackUri = `http://localhost:${(application.address() as AddressInfo).port}/callback`;
  idp = await startTestIdp({ env: { CLIENT_CACHE_TTL: "0", SIGN_IN_LIMIT_PER_IP: "0", SIGN_IN_METHODS: "password", BRAND_NAME: "Acme" } });
  corp = await startUpstreamIdp({ redirectUri: redirectUriFor(idp.issuer) });
  await idp.admin.addClient({ id: "web", name: "Web App", public: true, firstParty: true, redirectUris: [callbackUri] });
  web = await discover(idp.issuer, "web");
  const cookieKeys = (await loadCookieKeys(idp.config.keysDir))!;
  await createUpstreamProviders({
    db: idp.database.db,
    stores: (queryable) => storesOver(queryable, () => new Date()),
    sealer: async () => createSealer(cookieKeys, UPSTREAM_SECRET_INFO),
    production: false,
    issuer: idp.issuer,
  }).add({ id: "corp", issuer: corp.issuer, clientId: corp.clientId, secret: corp.clientSecret, name: "Corp SSO", trustEmail: true, allowSignUp: true });
  await launching;
}, 120_000);

const open: BrowserContext[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((context) => context.close()));
});
afterAll(async () => {
  await chromium?.close();
  await corp?.close();
  await idp?.close();
  application?.closeAllConnections();
  await new Promise((resolve) => application?.close(resolve));
});

const atCallback = (url: URL) => url.href.startsWith(callbackUri);

/** A page whose CSP violations and script errors on OUR origin are collected (the upstream's pages are not ours). */
async function watchedPage(): Promise<{ page: Page; problems: string[] }> {
  const context = await chromium!.newContext();
  open.push(context);
  // The upstream's development pages import a web font; nothing leaves this machine.
  await context.route((url) => !["localhost", "127.0.0.1"].includes(url.hostname), (route) => route.abort());
  const page = await context.newPage();
  await page.setViewportSize({ width: 320, height: 800 });
  const problems: string[] = [];
  const ours = () => page.url().startsWith(idp.baseUrl);
  page.on("console", (message) => {
    if (ours() && /Content Security Policy/i.test(message.text())) problems.push(`${page.url()}: ${message.text()}`);
  });
  page.on("pageerror", (error) => {
    if (ours()) problems.push(`${page.url()}: ${error.message}`);
  });
  return { page, problems };
}

/** The checks every new page passes. */
async function checkPage(page: Page, name: string) {
  expect(await axeProblems(page, `${ARTIFACTS}federation-${name}`)).toEqual([]);
  expect(await markupProblems(page)).toEqual(NO_MARKUP_PROBLEMS);
  expect((await overflow(page)).offenders).toEqual([]);
  await page.screenshot({ path: `${ARTIFACTS}federation-${name}.png`, fullPage: true });
}

/** At the upstream's own login page: its login, any password, its consent. */
async function loginUpstream(page: Page, login: string) {
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill("anything");
  await page.getByRole("button", { name: "Sign-in" }).click();
  await page.getByRole("button", { name: "Continue" }).click();
}

describe("federated sign-in in Chromium", { timeout: 120_000 }, () => {
  it("Continue with Corp SSO → the upstream's login → back, signed in with our own sub", async () => {
    const email = `chromium-fed${++people}@example.com`;
    corp.accounts.set(`c${people}`, { email, email_verified: true, name: "Grace Upstream" });
    const { page, problems } = await watchedPage();
    const start = await startAuthorization(web, { redirect_uri: callbackUri });
    await page.goto(start.url.toString());
    const button = page.getByRole("link", { name: "Continue with Corp SSO" });
    await button.waitFor();
    await checkPage(page, "sign-in-buttons");
    await button.click();
    await page.waitForURL((url) => url.href.startsWith(corp.issuer));
    await loginUpstream(page, `c${people}`);
    await page.waitForURL(atCallback);

    const tokens = await exchange(web, start, page.url());
    const identity = await verifyConvexToken(tokens.id_token!, [{ domain: idp.issuer, applicationID: "web" }]);
    const user = await idp.admin.users.findByEmail(email);
    expect(identity.subject).toBe(user!.id);
    expect(identity.subject).not.toBe(`c${people}`);
    expect(identity.name).toBe("Grace Upstream");
    expect(problems).toEqual([]);
  });

  it("the link page asks for the local password, and the person ends signed in to the same account", async () => {
    const email = `chromium-fed${++people}@example.com`;
    const local = await idp.admin.addUser({ email, password: "correct horse battery" });
    corp.accounts.set(`c${people}`, { email, email_verified: true });
    const { page, problems } = await watchedPage();
    const start = await startAuthorization(web, { redirect_uri: callbackUri });
    await page.goto(start.url.toString());
    await page.getByRole("link", { name: "Continue with Corp SSO" }).click();
    await loginUpstream(page, `c${people}`);
    await page.getByRole("heading", { name: "Link your Corp SSO sign-in" }).waitFor();
    await checkPage(page, "link");
    await page.getByLabel("Password").fill("wrong password here");
    await page.getByRole("button", { name: "Link and sign in" }).click();
    await page.getByRole("alert").waitFor();
    await checkPage(page, "link-error");
    await page.getByLabel("Password").fill("correct horse battery");
    await page.getByRole("button", { name: "Link and sign in" }).click();
    await page.waitForURL(atCallback);
    expect((await exchange(web, start, page.url())).claims()!.sub).toBe(local.id);
    // The account page lists the link (the same IdP session: no second sign-in), with its Unlink button.
    await page.goto(`${idp.baseUrl}/account`);
    await page.getByRole("heading", { name: "Sign-in with other providers" }).waitFor();
    await page.getByRole("button", { name: "Unlink Corp SSO" }).waitFor();
    await checkPage(page, "account-identities");
    expect(problems).toEqual([]);
  });

  it("a sign-in cancelled at the upstream ends on a clear page", async () => {
    const { page, problems } = await watchedPage();
    const start = await startAuthorization(web, { redirect_uri: callbackUri });
    await page.goto(start.url.toString());
    await page.getByRole("link", { name: "Continue with Corp SSO" }).click();
    await page.waitForURL((url) => url.href.startsWith(corp.issuer));
    await page.goto(new URL(`${new URL(page.url()).pathname}/abort`, corp.issuer).href);
    await page.getByRole("heading", { name: "Sign-in did not complete" }).waitFor();
    expect(await page.getByText("The sign-in at Corp SSO was cancelled or refused").isVisible()).toBe(true);
    await checkPage(page, "failure");
    expect(problems).toEqual([]);
  });
});
