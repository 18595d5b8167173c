// Mobile and desktop apps (RFC 8252) against a listening IdP: openid-client as the app, a real
// loopback listener on a random port receiving the redirect, a private-use scheme captured in
// Chromium (the browser hands it to no app here: the navigation is seen and aborted), and the
// redirect URIs that must be refused, at registration and at authorization.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import http from "node:http";
import type { AddressInfo } from "node:net";
import * as oidc from "openid-client";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { Browser } from "../support/browser.ts";
import { launchChromium, type Chromium } from "../support/chromium.ts";
import { discover } from "../support/oidc-flow.ts";
import { verifyConvexToken } from "../support/convex-verifier.ts";
import { contentSecurityPolicy } from "../../idp/http/security-headers.ts";

const person = { email: "native@example.com", password: "correct horse battery" };
const APP_SCHEME_URI = "com.example.app:/callback";
const LOOPBACK_URI = "http://127.0.0.1/callback";
const FIXED_PORT_URI = "http://127.0.0.1:7777/callback";

let idp: TestIdp;
let chromium: Chromium | undefined;
let app: oidc.Configuration;
let personId: string;

beforeAll(async () => {
  const launching = launchChromium().then((launched) => (chromium = launched));
  launching.catch(() => {});
  idp = await startTestIdp({ env: { SIGN_IN_LIMIT_PER_IP: "0" } });
  personId = (await idp.admin.addUser({ ...person, emailVerified: true })).id;
  await idp.admin.addClient({ id: "desktop", name: "Desktop App", public: true, firstParty: true, kind: "native", redirectUris: [APP_SCHEME_URI, LOOPBACK_URI, "http://[::1]/callback"] });
  await idp.admin.addClient({ id: "fixed", public: true, firstParty: true, kind: "native", redirectUris: [FIXED_PORT_URI] });
  app = await discover(idp.issuer, "desktop");
  await launching;
}, 120_000);
afterAll(async () => {
  await chromium?.close();
  await idp?.close();
});

async function start(config: oidc.Configuration, redirectUri: string) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: "openid email",
    state,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
  });
  return { url, verifier, state };
}

/** A one-shot loopback listener on a port the system picks, as a desktop app opens one. */
async function loopbackListener(): Promise<{ port: number; received: Promise<string>; close(): Promise<void> }> {
  let deliver!: (url: string) => void;
  const received = new Promise<string>((resolve) => (deliver = resolve));
  const server = http.createServer((request, response) => {
    response.end("You can return to the app.");
    deliver(`http://127.0.0.1:${(server.address() as AddressInfo).port}${request.url}`);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as AddressInfo).port, received, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** Where the authorization request goes first: the sign-in page (303 to an interaction) or an error page. */
async function firstStop(url: URL) {
  const response = await fetch(url, { redirect: "manual", headers: { accept: "text/html" } });
  return { status: response.status, location: response.headers.get("location"), body: await response.text() };
}

describe("a native app", () => {
  it("signs in through a loopback redirect on a random port, registered without one", async () => {
    const listener = await loopbackListener();
    try {
      const redirectUri = `http://127.0.0.1:${listener.port}/callback`;
      const flow = await start(app, redirectUri);
      const browser = new Browser();
      const login = await browser.follow(flow.url.toString());
      let page = await browser.submit(login, "/login", person, (url) => url.startsWith(redirectUri));
      if (!page.url.startsWith(redirectUri)) page = await browser.submit(page, "/confirm", {}, (url) => url.startsWith(redirectUri));
      expect(page.url.startsWith(redirectUri), page.html.slice(0, 300)).toBe(true);
      // The browser follows the redirect to the app's listener.
      await fetch(page.url);
      const callback = await listener.received;
      const tokens = await oidc.authorizationCodeGrant(app, new URL(callback), { pkceCodeVerifier: flow.verifier, expectedState: flow.state });
      const identity = await verifyConvexToken(tokens.id_token!, [{ domain: idp.issuer, applicationID: "desktop" }]);
      expect(identity).toMatchObject({ tokenIdentifier: `${idp.issuer}|${personId}`, email: person.email });
    } finally {
      await listener.close();
    }
  });

  it("admits any port on 127.0.0.1 and [::1] when registered without one, only the registered port otherwise", async () => {
    for (const redirectUri of ["http://127.0.0.1:50123/callback", "http://127.0.0.1:1/callback", "http://[::1]:61000/callback"]) {
      const stop = await firstStop((await start(app, redirectUri)).url);
      expect(stop.status, redirectUri).toBe(303);
      expect(stop.location, redirectUri).toMatch(/\/interaction\//);
    }
    const fixed = await discover(idp.issuer, "fixed");
    expect((await firstStop((await start(fixed, FIXED_PORT_URI)).url)).status).toBe(303);
    for (const redirectUri of ["http://127.0.0.1:7778/callback", "http://127.0.0.1/callback", "http://127.0.0.1:07777/callback"]) {
      const stop = await firstStop((await start(fixed, redirectUri)).url);
      expect(stop.status, redirectUri).toBe(400);
      expect(stop.body, redirectUri).toContain("redirect_uri");
    }
  });

  it("refuses a redirect it did not register: another scheme, another path, another loopback host", async () => {
    for (const redirectUri of ["com.example.evil:/callback", "com.example.app:/other", "com.example.app://callback", "http://localhost:5000/callback", "http://127.0.0.2:5000/callback", "https://127.0.0.1:5000/callback"]) {
      const stop = await firstStop((await start(app, redirectUri)).url);
      expect(stop.status, redirectUri).toBe(400);
      expect(stop.location, redirectUri).toBeNull();
    }
  });

  it("signs in in Chromium and ends at its private-use scheme, which the page's CSP admits", async () => {
    const context = await chromium!.newContext();
    try {
      const page = await context.newPage();
      const cspViolations: string[] = [];
      page.on("console", (message) => {
        if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
      });
      // No app is registered for the scheme: Chromium requests it, and the request is aborted.
      const appOpened = new Promise<string>((resolve) => page.on("request", (request) => request.url().startsWith("com.example.app:") && resolve(request.url())));
      const flow = await start(app, APP_SCHEME_URI);
      const signInPage = await page.goto(flow.url.toString());
      expect(signInPage!.headers()["content-security-policy"]).toContain("form-action 'self' com.example.app:;");
      await page.getByLabel("Email").fill(person.email);
      await page.getByLabel("Password").fill(person.password);
      await page.getByRole("button", { name: "Sign in", exact: true }).click();
      const callback = await appOpened;
      expect(callback).toMatch(/^com\.example\.app:\/callback\?code=/);
      expect(cspViolations).toEqual([]);
      const tokens = await oidc.authorizationCodeGrant(app, new URL(callback), { pkceCodeVerifier: flow.verifier, expectedState: flow.state });
      await verifyConvexToken(tokens.id_token!, [
        { type: "customJwt", issuer: idp.issuer, jwks: `${idp.issuer}/jwks`, algorithm: "RS256", applicationID: "desktop" },
      ]);
    } finally {
      await context.close();
    }
  });

  it("writes a form-action source for a private-use scheme and for a loopback port", () => {
    expect(contentSecurityPolicy({ formTargets: ["com.example.app:/callback"] })).toContain("form-action 'self' com.example.app:;");
    expect(contentSecurityPolicy({ formTargets: ["http://127.0.0.1:50123/callback"] })).toContain("form-action 'self' http://127.0.0.1:50123;");
  });
});

describe("registering a native app", () => {
  it("takes no secret and stores its kind", async () => {
    const { client, secret } = await idp.admin.addClient({ id: "mobile", public: false, firstParty: false, kind: "native", redirectUris: ["com.example.mobile:/cb", "https://app.example.com/oauth"] });
    expect(secret).toBeUndefined();
    expect(client.secretHash).toBeNull();
    expect((await idp.admin.clients.find("mobile"))?.kind).toBe("native");
  });

  it.each([
    ["myapp:/callback", /reverse-domain/],
    ["http://localhost/callback", /RFC 8252 §8.3/],
    ["http://example.com/callback", /loopback/],
    ["https://127.0.0.1/callback", /uses http/],
    ["javascript:alert(1)", /reverse-domain/],
    ["com.example.app:/callback#x", /fragment/],
  ])("refuses %s", async (uri, message) => {
    await expect(idp.admin.addClient({ id: "refused", public: true, firstParty: false, kind: "native", redirectUris: [uri] })).rejects.toThrow(message);
    expect(await idp.admin.clients.find("refused")).toBeUndefined();
  });
});
