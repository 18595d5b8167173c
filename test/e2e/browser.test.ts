// The example React app (examples/react-app) in a real Chromium against a real IdP: the browser
// client module (client/idp-auth.ts) signs alice in through the login form by redirect, and the ID
// token it would hand Convex passes the Convex backend's checks in both auth.config forms. Every step
// is a real click or keystroke; the token endpoint is called cross-origin from the app, so the flow
// itself proves the IdP's CORS answer.
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { build } from "vite";
import type { BrowserContext, Page } from "playwright-core";
import type { IdpAuth } from "../../client/idp-auth.ts";
import { freePort, startTestIdp, type TestIdp } from "../support/idp.ts";
import { launchChromium, type Chromium } from "../support/chromium.ts";
import { serveStatic, type StaticServer } from "../support/static-server.ts";
import { verifyConvexToken, type AuthProvider } from "../support/convex-verifier.ts";

const alice = { email: "alice@example.com", password: "correct horse battery", name: "Alice Example" };
const CLIENT_ID = "example-app";
const EXAMPLE_ROOT = fileURLToPath(new URL("../../examples/react-app", import.meta.url));
const REFRESH_KEY = "idp-auth:refresh"; // client/idp-auth.ts

let idp: TestIdp;
let aliceId: string;
let outDir: string;
let app: StaticServer | undefined;
let chromium: Chromium | undefined;
/** http://localhost:<port>, never 127.0.0.1: the origin must match the registered redirect URI. */
let appOrigin: string;
let idpOrigin: string;
/** Set E2E_SCREENSHOT_DIR (e.g. /tmp) to keep screenshots of the IdP's login page and the signed-in app. */
const SCREENSHOT_DIR = process.env.E2E_SCREENSHOT_DIR;

const contexts: BrowserContext[] = [];

beforeAll(async () => {
  // Launched while the IdP starts and the app builds; assigned as soon as it runs, so afterAll
  // closes it even when a later step fails.
  const browser = launchChromium().then((launched) => (chromium = launched));
  browser.catch(() => {}); // awaited below; keeps an early failure from going unhandled
  idp = await startTestIdp();
  idpOrigin = new URL(idp.issuer).origin;
  const port = await freePort();
  appOrigin = `http://localhost:${port}`;
  await idp.admin.addClient({
    id: CLIENT_ID,
    name: "Example App",
    public: true,
    firstParty: true,
    redirectUris: [`${appOrigin}/callback`],
    postLogoutRedirectUris: [`${appOrigin}/`],
  });
  aliceId = (await idp.admin.addUser({ ...alice, emailVerified: true })).id;

  outDir = await mkdtemp(path.join(os.tmpdir(), "example-app-"));
  await build({
    root: EXAMPLE_ROOT,
    configFile: path.join(EXAMPLE_ROOT, "vite.config.ts"),
    mode: "production",
    logLevel: "silent",
    build: { outDir, emptyOutDir: true },
    // Build-time configuration, as VITE_* variables would give it (without touching process.env).
    define: {
      "import.meta.env.VITE_IDP_ISSUER": JSON.stringify(idp.issuer),
      "import.meta.env.VITE_IDP_CLIENT_ID": JSON.stringify(CLIENT_ID),
    },
  });
  app = await serveStatic(outDir, port);
  await browser;
}, 120_000);

afterEach(async () => {
  await Promise.all(contexts.splice(0).map((context) => context.close()));
});

afterAll(async () => {
  await chromium?.close();
  await app?.close();
  await idp?.close();
  if (outDir) await rm(outDir, { recursive: true, force: true });
});

// ------------------------------------------------------------------------------------- helpers

async function openApp(pathname = "/"): Promise<Page> {
  const context = await chromium!.newContext();
  contexts.push(context);
  const page = await context.newPage();
  await page.goto(appOrigin + pathname);
  return page;
}

const atLoginPage = (url: URL) => url.origin === idpOrigin && url.pathname.startsWith("/interaction/");
const atApp = (pathname: string) => (url: URL) => url.origin === appOrigin && url.pathname === pathname;

/** Clicks the app's "Sign in" and waits for the IdP's login form. */
async function goToLogin(page: Page): Promise<void> {
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.waitForURL(atLoginPage);
  await page.getByLabel("Password").waitFor();
}

/** From the app, signed out: the whole redirect flow, typing alice's credentials. */
async function signIn(page: Page): Promise<void> {
  await goToLogin(page);
  await page.getByLabel("Email").fill(alice.email);
  await page.getByLabel("Password").fill(alice.password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.waitForURL(atApp("/"));
  await page.getByText(`Signed in as ${alice.email}`).waitFor();
}

function fetchToken(page: Page, forceRefreshToken: boolean): Promise<string | null> {
  return page.evaluate(
    (force) => (window as unknown as { idpAuth: IdpAuth }).idpAuth.fetchToken({ forceRefreshToken: force }),
    forceRefreshToken,
  );
}

function providers(): { customJwt: AuthProvider; oidc: AuthProvider } {
  return {
    customJwt: { type: "customJwt", issuer: idp.issuer, jwks: `${idp.issuer}/jwks`, algorithm: "RS256", applicationID: CLIENT_ID },
    oidc: { domain: idp.issuer, applicationID: CLIENT_ID },
  };
}

async function expectConvexAccepts(token: string | null): Promise<void> {
  expect(token).toBeTypeOf("string");
  const { customJwt, oidc } = providers();
  const tokenIdentifier = `${idp.issuer}|${aliceId}`;
  expect(await verifyConvexToken(token!, [customJwt])).toMatchObject({
    tokenIdentifier,
    subject: aliceId,
    issuer: idp.issuer,
    email: alice.email,
    email_verified: true,
    name: alice.name,
  });
  expect(await verifyConvexToken(token!, [oidc])).toMatchObject({
    tokenIdentifier,
    subject: aliceId,
    email: alice.email,
    emailVerified: true,
    name: alice.name,
  });
}

/** The "Identity Convex would see" panel as field -> shown value. */
async function identityPanel(page: Page): Promise<Record<string, string>> {
  const panel = page.getByRole("region", { name: "Identity Convex would see" });
  const fields = await panel.locator("dt").allTextContents();
  const values = await panel.locator("dd").allTextContents();
  return Object.fromEntries(fields.map((field, i) => [field, values[i]!]));
}

// --------------------------------------------------------------------------------------- tests

describe("the example app in Chromium", () => {
  it("was built with the test IdP's issuer", async () => {
    const assets = await readdir(path.join(outDir, "assets"));
    const bundle = (await Promise.all(assets.map((file) => readFile(path.join(outDir, "assets", file), "utf8")))).join("");
    expect(bundle).toContain(idp.issuer);
    expect(bundle).not.toContain("http://localhost:3000/oidc");
  });

  it("signs alice in through the IdP's login page and shows the identity Convex would see", async () => {
    const page = await openApp();
    await page.getByText("You are signed out.").waitFor();
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("convex-idp example");

    await goToLogin(page);
    expect(new URL(page.url()).origin).toBe(idpOrigin);
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("Sign in");
    await page.getByLabel("Email").fill(alice.email);
    await page.getByLabel("Password").fill(alice.password);
    if (SCREENSHOT_DIR) await page.screenshot({ path: path.join(SCREENSHOT_DIR, "idp-login-page.png"), fullPage: true });
    await page.getByRole("button", { name: "Sign in", exact: true }).click();

    await page.waitForURL(atApp("/"));
    await page.getByText(`Signed in as ${alice.email}`).waitFor();
    await page.getByRole("heading", { name: "Identity Convex would see" }).waitFor();
    expect(await identityPanel(page)).toEqual({
      subject: JSON.stringify(aliceId),
      issuer: JSON.stringify(idp.issuer),
      tokenIdentifier: JSON.stringify(`${idp.issuer}|${aliceId}`),
      email: JSON.stringify(alice.email),
      email_verified: "true",
      name: JSON.stringify(alice.name),
    });
    await page.getByRole("button", { name: "Sign out" }).waitFor();
    if (SCREENSHOT_DIR) await page.screenshot({ path: path.join(SCREENSHOT_DIR, "example-app-signed-in.png"), fullPage: true });
    // The code and state are gone from the address bar.
    expect(page.url()).toBe(`${appOrigin}/`);
  });

  it("hands out ID tokens that Convex accepts in both auth.config forms, and a new one when forced", async () => {
    const page = await openApp();
    await signIn(page);

    const token = await fetchToken(page, false);
    await expectConvexAccepts(token);
    expect(await fetchToken(page, false)).toBe(token); // still fresh: the same token

    const forced = await fetchToken(page, true);
    expect(forced).not.toBe(token); // convex-js drops auth if a forced refresh returns the same string
    await expectConvexAccepts(forced);
    expect(await fetchToken(page, false)).toBe(forced);
  });

  it("keeps alice signed in across a reload without going back to the IdP", async () => {
    const page = await openApp();
    await signIn(page);
    const before = await fetchToken(page, false);
    expect(await page.evaluate((key) => sessionStorage.getItem(key), REFRESH_KEY)).toBeTypeOf("string");

    const idpPages: string[] = [];
    page.on("framenavigated", (frame) => {
      if (frame === page.mainFrame() && new URL(frame.url()).origin === idpOrigin) idpPages.push(frame.url());
    });
    await page.reload();
    await page.getByText(`Signed in as ${alice.email}`).waitFor();
    expect(idpPages).toEqual([]);

    const after = await fetchToken(page, false);
    expect(after).not.toBe(before); // restored with the refresh token: a new ID token
    await expectConvexAccepts(after);
  });

  it("signs out at the IdP too: the next sign-in asks for the password again", async () => {
    const page = await openApp();
    await signIn(page);
    const refreshToken = await page.evaluate((key) => sessionStorage.getItem(key), REFRESH_KEY);

    // The app sends its ID token as id_token_hint: the IdP signs out without asking and sends it back.
    const idpPages: string[] = [];
    page.on("framenavigated", (frame) => {
      if (frame === page.mainFrame() && new URL(frame.url()).origin === idpOrigin) idpPages.push(frame.url());
    });
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(atApp("/"));
    expect(idpPages).toEqual([]);
    await page.getByText("You are signed out.").waitFor();
    expect(await fetchToken(page, false)).toBeNull();
    expect(await page.evaluate((key) => sessionStorage.getItem(key), REFRESH_KEY)).toBeNull();

    // The refresh token the tab held is dead at the IdP as well.
    const refused = await fetch(`${idp.issuer}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken!, client_id: CLIENT_ID }),
    });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: "invalid_grant" });

    // No IdP session any more: signing in shows the login form instead of coming straight back.
    await goToLogin(page);
    expect(await page.getByLabel("Email").inputValue()).toBe("");
  });

  it("reports a sign-in the user cancelled at the IdP, and stays signed out", async () => {
    const page = await openApp();
    await goToLogin(page);
    await page.getByRole("button", { name: "Cancel" }).click();
    await page.waitForURL(atApp("/"));
    expect(await page.getByRole("alert").textContent()).toMatch(/^Sign-in failed: /);
    await page.getByRole("button", { name: "Sign in", exact: true }).waitFor();
    expect(await fetchToken(page, false)).toBeNull();
  });
});

describe("the example app when the IdP cannot be reached", () => {
  const discovery = (url: URL) => url.pathname.endsWith("/.well-known/openid-configuration");
  const tokenEndpoint = (url: URL) => url.origin === idpOrigin && url.pathname === `${new URL(idp.issuer).pathname}/token`;

  it("says so, and signs in once the IdP answers again", async () => {
    const page = await openApp();
    await page.route(discovery, (route) => route.abort("connectionrefused"));
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    expect(await page.getByRole("alert").textContent()).toMatch(/^Could not reach the identity provider/);

    await page.unroute(discovery);
    await signIn(page);
  });

  it("shows the signed-out page instead of loading forever, and restores the session later", async () => {
    const page = await openApp();
    await signIn(page);
    await page.route(tokenEndpoint, (route) => route.abort("connectionrefused"));
    await page.reload();
    await page.getByRole("button", { name: "Sign in", exact: true }).waitFor();
    expect(await page.evaluate((key) => sessionStorage.getItem(key), REFRESH_KEY)).toBeTypeOf("string");

    await page.unroute(tokenEndpoint);
    await page.reload();
    await page.getByText(`Signed in as ${alice.email}`).waitFor();
    await expectConvexAccepts(await fetchToken(page, false));
  });
});

describe("the token endpoint's CORS answer", () => {
  // The browser flows above already depend on it; this pins the rule down without a browser.
  async function tokenRequestFrom(origin: string) {
    const response = await fetch(`${idp.issuer}/token`, {
      method: "POST",
      headers: { origin, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: "not-a-token", client_id: CLIENT_ID }),
    });
    return response.headers.get("access-control-allow-origin");
  }

  it("allows the origin of the app's registered redirect URI, and no other", async () => {
    expect(await tokenRequestFrom(appOrigin)).toBe(appOrigin);
    expect(await tokenRequestFrom("http://localhost:1")).toBeNull();
  });
});
