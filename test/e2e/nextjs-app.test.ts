// The server-rendered example (examples/nextjs-app), built with `next build` and run with
// `next start`, in a real Chromium against a real IdP: the Next.js server signs alice in as a
// confidential client, keeps her session in a sealed HttpOnly cookie, refreshes it on the server,
// and renders what a Convex query read with her identity. No Convex backend runs here: a stand-in
// (test/support/convex-stand-in.ts) answers the HTTP query API, verifies the bearer token as Convex
// does and runs convex/users.ts's real `viewer` query through convex-test.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { EncryptJWT, jwtDecrypt } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { BrowserContext, Page } from "playwright-core";
import { freePort, startTestIdp, type TestIdp } from "../support/idp.ts";
import { launchChromium, type Chromium } from "../support/chromium.ts";
import { startConvexStandIn, type ConvexStandIn } from "../support/convex-stand-in.ts";
import { verifyConvexToken, type CustomJwtProvider } from "../support/convex-verifier.ts";

const alice = { email: "alice@example.com", password: "correct horse battery", name: "Alice Example" };
const CLIENT_ID = "nextjs-app";
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const APP_DIR = path.join(ROOT, "examples/nextjs-app");
const NEXT_BIN = path.join(ROOT, "node_modules/next/dist/bin/next");
const SESSION_COOKIE = "session"; // over http; __Host-session over https
const sessionKey = randomBytes(32);

let idp: TestIdp;
let aliceId: string;
let clientSecret: string;
let convex: ConvexStandIn;
let chromium: Chromium | undefined;
let next: ChildProcess | undefined;
let nextOutput = "";
/** http://localhost:<port>: the origin of the registered redirect URIs, and the app's APP_URL. */
let appOrigin: string;
let idpOrigin: string;
let provider: CustomJwtProvider;

/** Runs the example's `next` command; resolves when it exits 0 (build) or prints Ready (start). */
function runNext(args: string[], env: Record<string, string>, ready?: RegExp): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    // Its own process group, so afterAll ends the server and anything it started.
    const child = spawn(process.execPath, [NEXT_BIN, ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", NEXT_TELEMETRY_DISABLED: "1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let output = "";
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      nextOutput += chunk.toString();
      if (ready?.test(output)) resolve(child);
    };
    child.stdout!.on("data", collect);
    child.stderr!.on("data", collect);
    child.once("error", reject);
    child.once("exit", (code) => {
      if (!ready && code === 0) resolve(child);
      else reject(new Error(`next ${args[0]} exited with ${code}:\n${output}`));
    });
  });
}

beforeAll(async () => {
  const browser = launchChromium().then((launched) => (chromium = launched));
  browser.catch(() => {});
  // The build needs no settings (they are read when the server runs), so it runs while the rest starts.
  const build = runNext(["build", APP_DIR], { NODE_ENV: "production" });
  build.catch(() => {});

  // A generous reuse grace: the test presents a rotated refresh token to see it refused, and a
  // reuse after the grace would revoke the whole grant, the new token with it.
  idp = await startTestIdp({ env: { REFRESH_TOKEN_REUSE_GRACE: "600" } });
  idpOrigin = new URL(idp.issuer).origin;
  const port = await freePort();
  appOrigin = `http://localhost:${port}`;
  clientSecret = (
    await idp.admin.addClient({
      id: CLIENT_ID,
      name: "Next.js example",
      public: false,
      firstParty: true,
      redirectUris: [`${appOrigin}/callback`],
      postLogoutRedirectUris: [`${appOrigin}/`],
    })
  ).secret!;
  aliceId = (await idp.admin.addUser({ ...alice, emailVerified: true })).id;
  provider = { type: "customJwt", issuer: idp.issuer, jwks: `${idp.issuer}/jwks`, algorithm: "RS256", applicationID: CLIENT_ID };
  convex = await startConvexStandIn([provider]);

  await build;
  next = await runNext(
    ["start", APP_DIR, "--port", String(port), "--hostname", "localhost"],
    {
      NODE_ENV: "production",
      APP_URL: appOrigin,
      IDP_ISSUER: idp.issuer,
      IDP_CLIENT_ID: CLIENT_ID,
      IDP_CLIENT_SECRET: clientSecret,
      SESSION_SECRET: sessionKey.toString("base64"),
      CONVEX_URL: convex.url,
    },
    /Ready in/,
  );
  await browser;
}, 300_000);

afterEach(async () => {
  await Promise.all(contexts.splice(0).map((context) => context.close()));
});

afterAll(async () => {
  await chromium?.close();
  if (next?.pid && next.exitCode === null) {
    const exited = new Promise((resolve) => next!.once("exit", resolve));
    process.kill(-next.pid, "SIGTERM");
    await exited;
  }
  await convex?.close();
  await idp?.close();
});

// ------------------------------------------------------------------------------------- helpers

const contexts: BrowserContext[] = [];

async function openApp(): Promise<Page> {
  const context = await chromium!.newContext();
  contexts.push(context);
  const page = await context.newPage();
  await page.goto(`${appOrigin}/`);
  return page;
}

const atLoginPage = (url: URL) => url.origin === idpOrigin && url.pathname.startsWith("/interaction/");
const atHome = (url: URL) => url.origin === appOrigin && url.pathname === "/";

async function goToLogin(page: Page): Promise<void> {
  await page.getByRole("link", { name: "Sign in" }).click();
  await page.waitForURL(atLoginPage);
  await page.getByLabel("Password").waitFor();
}

async function signIn(page: Page): Promise<void> {
  await goToLogin(page);
  await page.getByLabel("Email").fill(alice.email);
  await page.getByLabel("Password").fill(alice.password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.waitForURL(atHome);
  await page.getByText(`Signed in as ${alice.email}`).waitFor();
}

type SessionCookie = { value: string; httpOnly: boolean; secure: boolean; sameSite: string; path: string };

async function sessionCookie(page: Page): Promise<SessionCookie | undefined> {
  return (await page.context().cookies(appOrigin)).find((cookie) => cookie.name === SESSION_COOKIE);
}

type Session = { idToken: string; refreshToken: string; expiresAt: number };

/** What the app sealed, opened with the key the test gave it. */
async function unseal(value: string): Promise<Session> {
  const { payload } = await jwtDecrypt(value, sessionKey, { audience: "session" });
  return payload as unknown as Session;
}

/** Replaces the browser's session cookie with one the app will accept: sealed with its key. */
async function plantSession(page: Page, session: Session): Promise<void> {
  const sealed = await new EncryptJWT({ ...session })
    .setProtectedHeader({ alg: "dir", enc: "A256GCM" })
    .setAudience("session")
    .setIssuedAt()
    .setExpirationTime("1h")
    .encrypt(sessionKey);
  await page.context().addCookies([{ name: SESSION_COOKIE, value: sealed, url: appOrigin, httpOnly: true, sameSite: "Lax" }]);
}

/** The refresh token grant as the app makes it (client_secret_basic). */
async function refreshAtIdp(refreshToken: string): Promise<Response> {
  return fetch(`${idp.issuer}/token`, {
    method: "POST",
    headers: {
      authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${clientSecret}`).toString("base64")}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken }),
  });
}

async function expectRefused(refreshToken: string): Promise<void> {
  const response = await refreshAtIdp(refreshToken);
  expect(response.status).toBe(400);
  expect(await response.json()).toMatchObject({ error: "invalid_grant" });
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

// --------------------------------------------------------------------------------------- tests

describe("the Next.js example in Chromium", () => {
  it("signs alice in on the server and renders what users:viewer read with her identity", async () => {
    const page = await openApp();
    const pageErrors: string[] = []; // uncaught errors, hydration mismatches among them
    page.on("pageerror", (error) => pageErrors.push(error.message));
    await page.getByText("You are signed out.").waitFor();
    const before = convex.calls.length;

    await signIn(page);
    expect(page.url()).toBe(`${appOrigin}/`); // the code and state are gone from the address bar
    expect(await page.locator('[data-field="subject"]').textContent()).toBe(aliceId);
    expect(await page.locator('[data-field="tokenIdentifier"]').textContent()).toBe(`${idp.issuer}|${aliceId}`);
    // The browser's Convex client got the preloaded answer.
    expect(await page.getByTestId("live-viewer").textContent()).toBe(`Convex client: ${alice.email}`);
    await page.waitForLoadState("load");
    expect(pageErrors).toEqual([]);

    // fetchQuery and preloadQuery each ran the real query, with a token the Convex rules accept.
    const calls = convex.calls.slice(before);
    expect(calls.map((call) => call.path)).toEqual(["users:viewer", "users:viewer"]);
    for (const call of calls) expect(call.identity).toMatchObject({ subject: aliceId, email: alice.email, issuer: idp.issuer });

    // The session is one sealed, HttpOnly, Lax cookie; the tokens are not readable in it.
    const cookie = (await sessionCookie(page))!;
    expect(cookie).toMatchObject({ httpOnly: true, secure: false, sameSite: "Lax", path: "/" });
    const session = await unseal(cookie.value);
    expect(session.idToken).toBe(calls[0]!.token);
    expect(session.refreshToken).toBeTypeOf("string");
    expect(cookie.value).not.toContain(session.idToken.split(".")[1]);
    expect(cookie.value).not.toContain(session.refreshToken);
    expect(await page.evaluate(() => document.cookie)).toBe(""); // neither cookie is visible to script
    // The pending sign-in's cookie is gone. (Cookies ignore ports: the IdP's, on localhost too, are listed as well.)
    expect((await page.context().cookies(appOrigin)).map((c) => c.name)).not.toContain("signin");
  });

  it("renders alice's data in the HTML itself, and a reload keeps her signed in without the IdP or a refresh", async () => {
    const page = await openApp();
    await signIn(page);
    const cookie = (await sessionCookie(page))!.value;

    // The HTML as the server sent it, with the browser's cookies but no script run.
    const html = await (await page.context().request.get(`${appOrigin}/`)).text();
    expect(html).toContain(alice.email);
    expect(html).toContain(aliceId);

    const idpPages: string[] = [];
    page.on("framenavigated", (frame) => {
      if (frame === page.mainFrame() && new URL(frame.url()).origin === idpOrigin) idpPages.push(frame.url());
    });
    await page.reload();
    await page.getByText(`Signed in as ${alice.email}`).waitFor();
    expect(idpPages).toEqual([]);
    expect((await sessionCookie(page))!.value).toBe(cookie); // the ID token is fresh: nothing was rewritten
  });

  it("refreshes on the server when the ID token nears expiry, with a rotated refresh token", async () => {
    const page = await openApp();
    await signIn(page);
    const first = await unseal((await sessionCookie(page))!.value);

    // Time passes: the session now says its ID token expires in 10 s, inside SESSION_REFRESH_BEFORE (60 s).
    await plantSession(page, { ...first, expiresAt: nowSeconds() + 10 });
    const before = convex.calls.length;
    await page.reload();
    await page.getByText(`Signed in as ${alice.email}`).waitFor();

    const second = await unseal((await sessionCookie(page))!.value);
    expect(second.idToken).not.toBe(first.idToken);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(second.expiresAt).toBeGreaterThan(nowSeconds() + 60);
    // The page was rendered with the new token already (the proxy passed it on with the request).
    expect(convex.calls.slice(before).map((call) => call.token)).toEqual([second.idToken, second.idToken]);
    expect(await verifyConvexToken(second.idToken, [provider])).toMatchObject({ subject: aliceId, email: alice.email });
    await expectRefused(first.refreshToken);

    // The browser's Convex client asks for a fresh token: /token refreshes on the server and rotates again.
    const fresh = await page.evaluate(async () => {
      const response = await fetch("/token", { method: "POST" });
      return { status: response.status, body: (await response.json()) as { idToken: string } };
    });
    expect(fresh.status).toBe(200);
    const third = await unseal((await sessionCookie(page))!.value);
    expect(fresh.body.idToken).toBe(third.idToken);
    expect(third.idToken).not.toBe(second.idToken);
    expect(third.refreshToken).not.toBe(second.refreshToken);
    await expectRefused(second.refreshToken);

    await page.reload();
    await page.getByText(`Signed in as ${alice.email}`).waitFor();
    expect((await unseal((await sessionCookie(page))!.value)).idToken).toBe(third.idToken);
  });

  it("ends a session the IdP no longer refreshes, and one it cannot open", async () => {
    const page = await openApp();
    await signIn(page);
    const session = await unseal((await sessionCookie(page))!.value);

    await plantSession(page, { ...session, refreshToken: "not-a-refresh-token", expiresAt: nowSeconds() - 1 });
    await page.reload();
    await page.getByText("You are signed out.").waitFor();
    expect(await sessionCookie(page)).toBeUndefined();

    await page.context().addCookies([{ name: SESSION_COOKIE, value: "eyJhbGciOiJkaXIifQ.tampered..x.y", url: appOrigin }]);
    await page.reload();
    await page.getByText("You are signed out.").waitFor();
    expect(await sessionCookie(page)).toBeUndefined();

    // /token answers 401 without a session, and gives out nothing.
    const status = await page.evaluate(async () => (await fetch("/token", { method: "POST" })).status);
    expect(status).toBe(401);
  });

  it("signs out at the IdP too: the refresh token is dead and the next sign-in asks for the password", async () => {
    const page = await openApp();
    await signIn(page);
    const session = await unseal((await sessionCookie(page))!.value);

    const idpPages: string[] = [];
    page.on("framenavigated", (frame) => {
      if (frame === page.mainFrame() && new URL(frame.url()).origin === idpOrigin) idpPages.push(frame.url());
    });
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(atHome);
    await page.getByText("You are signed out.").waitFor();
    // id_token_hint: the IdP signed out without a confirmation page (the redirect passed through it).
    expect(idpPages).toEqual([]);
    expect(await sessionCookie(page)).toBeUndefined();
    await expectRefused(session.refreshToken);

    await goToLogin(page);
    expect(await page.getByLabel("Email").inputValue()).toBe("");
  });

  it("reports a sign-in cancelled at the IdP, and a callback no sign-in started", async () => {
    const page = await openApp();
    await goToLogin(page);
    // The PKCE verifier, state and nonce wait for /callback in their own sealed cookie.
    const pending = (await page.context().cookies(appOrigin)).find((cookie) => cookie.name === "signin");
    expect(pending).toMatchObject({ httpOnly: true, sameSite: "Lax", path: "/" });
    await page.getByRole("button", { name: "Cancel" }).click();
    await page.waitForURL(atHome);
    await page.getByText("Sign-in failed. Try again.").waitFor();
    await page.getByText("You are signed out.").waitFor();
    expect(await sessionCookie(page)).toBeUndefined();
    expect((await page.context().cookies(appOrigin)).map((c) => c.name)).not.toContain("signin");

    await page.goto(`${appOrigin}/callback?code=forged&state=forged`);
    expect(page.url()).toBe(`${appOrigin}/?error=sign-in-failed`);
    await page.getByText("Sign-in failed. Try again.").waitFor();
    expect(await sessionCookie(page)).toBeUndefined();
  });
});

describe("the Convex stand-in", () => {
  it("refuses a token Convex would refuse, and runs a query without one as signed out", async () => {
    const query = (headers: Record<string, string>) =>
      fetch(`${convex.url}/api/query`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ path: "users:viewer", args: [{}], format: "convex_encoded_json" }),
      });
    const refused = await query({ authorization: "Bearer not.a.token" });
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ code: "Unauthenticated" });
    const anonymous = await query({});
    expect(await anonymous.json()).toEqual({ status: "success", value: null, logLines: [] });
  });
});

// Shown when a test fails, to tell an app error from a test error.
afterEach((context) => {
  if (context.task.result?.state === "fail") console.error(`next output:\n${nextOutput.slice(-4000)}`);
});
