// The Content-Security-Policy in a real Chromium, which checks form-action against every redirect
// after a form post: sign-in with consent, the form_post response mode (oidc-provider's one inline
// script, admitted by its hash) and sign-out with and without an IdP session all reach the client,
// the stylesheet loads, and the browser reports no violation on the way.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { BrowserContext, Page } from "playwright-core";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { collectCspViolations, launchChromium, type Chromium } from "../support/chromium.ts";
import { authorizationQuery } from "../support/oidc-flow.ts";

const alice = { email: "alice@example.com", password: "a long enough passphrase 42" };

let idp: TestIdp;
let chromium: Chromium | undefined;
let relyingParty: http.Server;
let appOrigin: string;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  const launching = launchChromium().then((launched) => (chromium = launched));
  launching.catch(() => {});
  idp = await startTestIdp();
  // The client: answers any method at any path with what it received, so a form_post is visible.
  relyingParty = http.createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString()));
    request.on("end", () => {
      response.writeHead(200, { "content-type": "text/plain" }).end(`${request.method} ${request.url}\n${body}`);
    });
  });
  await new Promise<void>((resolve) => relyingParty.listen(0, "127.0.0.1", resolve));
  appOrigin = `http://localhost:${(relyingParty.address() as AddressInfo).port}`;
  await idp.admin.addClient({
    id: "partner",
    name: "Partner",
    public: true,
    firstParty: false,
    redirectUris: [`${appOrigin}/callback`],
    postLogoutRedirectUris: [`${appOrigin}/signed-out`],
  });
  await idp.admin.addUser(alice);
  await launching;
}, 120_000);

afterEach(async () => {
  await Promise.all(contexts.splice(0).map((context) => context.close()));
});

afterAll(async () => {
  await chromium?.close();
  await new Promise((resolve) => relyingParty?.close(resolve));
  await idp?.close();
});

/** A fresh context and page, with every CSP violation Chromium reports collected. */
async function openPage(): Promise<{ page: Page; violations: string[] }> {
  const context = await chromium!.newContext();
  contexts.push(context);
  const page = await context.newPage();
  return { page, violations: collectCspViolations(page) };
}

function authorizationUrl(params: Record<string, string> = {}): string {
  return `${idp.issuer}/auth?${authorizationQuery({
    client_id: "partner",
    scope: "openid email",
    redirect_uri: `${appOrigin}/callback`,
    state: "state-1",
    nonce: "nonce-1",
    ...params,
  })}`;
}

const at = (pathname: string) => (url: URL) => url.origin === appOrigin && url.pathname === pathname;

async function signInWithConsent(page: Page): Promise<void> {
  await page.goto(authorizationUrl());
  await page.getByLabel("Email").fill(alice.email);
  await page.getByLabel("Password").fill(alice.password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.getByRole("button", { name: "Allow" }).click();
  await page.waitForURL(at("/callback"));
}

describe("the IdP's Content-Security-Policy in Chromium", () => {
  it("styles the sign-in page, and the sign-in and consent forms end at the client's callback", async () => {
    const { page, violations } = await openPage();
    await page.goto(authorizationUrl());
    await page.getByLabel("Password").waitFor();
    // The stylesheet loaded under style-src 'self' (main has the rounded border only it gives).
    expect(await page.locator("main").evaluate((main) => getComputedStyle(main).borderTopLeftRadius)).toBe("12px");
    await page.getByLabel("Email").fill(alice.email);
    await page.getByLabel("Password").fill(alice.password);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.getByRole("button", { name: "Allow" }).click();
    await page.waitForURL(at("/callback"));
    expect(new URL(page.url()).searchParams.get("code")).toBeTruthy();
    expect(violations).toEqual([]);
  });

  it("runs the form_post page's auto-submit (its script admitted by hash) and posts to the client", async () => {
    const { page, violations } = await openPage();
    await signInWithConsent(page);
    // Signed in and consented: this request answers straight away with the auto-submitting form.
    await page.goto(authorizationUrl({ response_mode: "form_post", state: "state-2" }));
    await page.waitForURL(at("/callback"));
    const received = await page.locator("body").textContent();
    expect(received).toMatch(/^POST \/callback/);
    expect(received).toContain("code=");
    expect(received).toContain("state=state-2");
    expect(violations).toEqual([]);
  });

  it("signs out from the confirmation page and returns to the client's post-logout URI", async () => {
    const { page, violations } = await openPage();
    await signInWithConsent(page);
    await page.goto(`${idp.issuer}/session/end?client_id=partner&post_logout_redirect_uri=${encodeURIComponent(`${appOrigin}/signed-out`)}`);
    await page.getByRole("button", { name: "Sign out", exact: true }).click();
    await page.waitForURL(at("/signed-out"));
    expect(violations).toEqual([]);
  });

  it("signs out without an IdP session through the provider's auto-submitting form", async () => {
    const { page, violations } = await openPage();
    await page.goto(`${idp.issuer}/session/end?client_id=partner&post_logout_redirect_uri=${encodeURIComponent(`${appOrigin}/signed-out`)}`);
    await page.waitForURL(at("/signed-out"));
    expect(violations).toEqual([]);
  });
});
