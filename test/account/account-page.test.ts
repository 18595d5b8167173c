// The account page (/account) in a real Chromium, every action a click: changing the password
// (current one required, mailed, other browsers signed out), refused with a wrong current password
// or without the form's CSRF token (nothing changes); the browsers and applications signed in, and
// signing out of one browser, of one application, or everywhere, which kills another browser's
// refresh token (openid-client's refresh grant answers invalid_grant); the recent security events;
// axe, overflow and control sizes at phone and desktop width.
import http from "node:http";
import { mkdir } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import * as oidc from "openid-client";
import type { BrowserContext, Page } from "playwright-core";
import { launchChromium, collectCspViolations, type Chromium } from "../support/chromium.ts";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { discover, exchange, startAuthorization } from "../support/oidc-flow.ts";
import { TestMailServer } from "../support/smtp.ts";
import { axeProblems, markupProblems, NO_MARKUP_PROBLEMS, overflow, smallControls } from "../pages/page-checks.ts";

const PASSWORD = "violet tractor sandwich";
const NEW_PASSWORD = "purple kettle meadow";
const ARTIFACTS = fileURLToPath(new URL("../../test-artifacts/pages/", import.meta.url));

let smtp: TestMailServer;
let idp: TestIdp;
let web: oidc.Configuration;
let application: http.Server;
let callbackUri: string;
let chromium: Chromium | undefined;
let people = 0;

beforeAll(async () => {
  const launching = launchChromium().then((launched) => (chromium = launched));
  launching.catch(() => {});
  await mkdir(ARTIFACTS, { recursive: true });
  // The application's callback, answered by a real listener (see test/codes/in-chromium.test.ts).
  application = http.createServer((_, response) => response.writeHead(200, { "content-type": "text/plain" }).end("the application"));
  await new Promise<void>((resolve) => application.listen(0, "127.0.0.1", resolve));
  callbackUri = `http://localhost:${(application.address() as AddressInfo).port}/callback`;
  smtp = await TestMailServer.start();
  idp = await startTestIdp({ env: { BRAND_NAME: "Acme", SMTP_URL: smtp.url(), MAIL_POLL_INTERVAL_MS: "100", SIGN_IN_LIMIT_PER_IP: "0" } });
  await idp.admin.addClient({ id: "web", name: "Web App", public: true, firstParty: true, redirectUris: [callbackUri] });
  web = await discover(idp.issuer, "web");
  await launching;
}, 120_000);
const open: BrowserContext[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((context) => context.close()));
});
afterAll(async () => {
  await chromium?.close();
  await idp?.close();
  await smtp?.stop();
  application?.closeAllConnections();
  await new Promise((resolve) => application?.close(resolve));
});

async function newPerson(): Promise<{ id: string; email: string }> {
  const email = `account${++people}@example.com`;
  const user = await idp.admin.addUser({ email, password: PASSWORD });
  return { id: user.id, email };
}

async function newPage(options: { width?: number } = {}): Promise<{ page: Page; context: BrowserContext; csp: string[] }> {
  const context = await chromium!.newContext();
  open.push(context);
  const page = await context.newPage();
  if (options.width) await page.setViewportSize({ width: options.width, height: 800 });
  return { page, context, csp: collectCspViolations(page) };
}

async function signInOnPage(page: Page, email: string, password = PASSWORD): Promise<void> {
  await page.getByRole("heading", { name: "Sign in", level: 1 }).waitFor();
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
}

async function openAccount(page: Page, email: string, password = PASSWORD): Promise<void> {
  await page.goto(`${idp.baseUrl}/account`);
  await signInOnPage(page, email, password);
  await page.waitForURL(`${idp.baseUrl}/account`);
}

/** Signs in to the application "web" in this page; its tokens (with a refresh token). */
async function signInToApp(page: Page, email: string) {
  const start = await startAuthorization(web, { redirect_uri: callbackUri });
  await page.goto(start.url.toString());
  await signInOnPage(page, email);
  await page.waitForURL((url) => url.href.startsWith(callbackUri));
  const tokens = await exchange(web, start, page.url());
  expect(tokens.refresh_token).toBeTruthy();
  return tokens;
}

async function refreshRefused(refreshToken: string): Promise<string | undefined> {
  try {
    await oidc.refreshTokenGrant(web, refreshToken);
    return undefined;
  } catch (error) {
    return (error as { error?: string }).error;
  }
}

async function passwordHash(email: string): Promise<string> {
  const { rows } = await idp.database.db.query<{ password_hash: string }>("SELECT password_hash FROM users WHERE email = $1", [email]);
  return rows[0]!.password_hash;
}

async function auditEvents(userId: string): Promise<{ event: string; details: Record<string, unknown> }[]> {
  const { rows } = await idp.database.db.query<{ event: string; details: Record<string, unknown> }>(
    "SELECT event, details FROM audit_events WHERE user_id = $1 ORDER BY id",
    [userId],
  );
  return rows;
}

/** The account page, and what it says: the notice after an action. */
const notice = (page: Page) => page.getByRole("status").textContent();

describe("the account page", { timeout: 120_000 }, () => {
  it("changes the password with the current one: mailed, audited, other browsers signed out, this one not", async () => {
    const person = await newPerson();
    const other = await newPage();
    await openAccount(other.page, person.email);
    const { page, csp } = await newPage();
    await openAccount(page, person.email);

    await page.getByRole("link", { name: "Change password" }).click();
    await page.getByLabel("Current password").fill(PASSWORD);
    await page.getByLabel("New password", { exact: true }).fill(NEW_PASSWORD);
    await page.getByLabel("New password again").fill(NEW_PASSWORD);
    await page.getByRole("button", { name: "Change password" }).click();
    await page.waitForURL(`${idp.baseUrl}/account?notice=passwordChanged`);
    await expect(notice(page)).resolves.toContain("Your password was changed");
    expect(csp).toEqual([]);

    const [mail] = await smtp.waitFor(person.email);
    expect(mail!.subject).toBe("Your Acme password was changed");
    expect((await auditEvents(person.id)).filter((event) => event.event === "password.changed")).toHaveLength(1);
    // The other browser signs in again, with the new password; this one goes on.
    await other.page.goto(`${idp.baseUrl}/account`);
    await signInOnPage(other.page, person.email, NEW_PASSWORD);
    await other.page.waitForURL(`${idp.baseUrl}/account`);
    await page.goto(`${idp.baseUrl}/account`);
    await expect(page.locator("#signed-in-as").textContent()).resolves.toContain(person.email);
    // The recent security events show it.
    await expect(page.locator("#events").textContent()).resolves.toContain("Password changed");
  });

  it("refuses a wrong current password with 403 and changes nothing", async () => {
    const person = await newPerson();
    const before = await passwordHash(person.email);
    const { page } = await newPage();
    await openAccount(page, person.email);
    await page.goto(`${idp.baseUrl}/account/password`);
    await page.getByLabel("Current password").fill("not my password");
    await page.getByLabel("New password", { exact: true }).fill(NEW_PASSWORD);
    await page.getByLabel("New password again").fill(NEW_PASSWORD);
    const [response] = await Promise.all([page.waitForResponse((each) => each.request().method() === "POST"), page.getByRole("button", { name: "Change password" }).click()]);
    expect(response.status()).toBe(403);
    await expect(page.getByRole("alert").textContent()).resolves.toContain("The current password is not right.");
    await expect(page.getByLabel("Current password").getAttribute("aria-invalid")).resolves.toBe("true");
    expect(await passwordHash(person.email)).toBe(before);
    const events = (await auditEvents(person.id)).map((event) => event.event);
    expect(events).toContain("password.change_failed");
    expect(events).not.toContain("password.changed");
    // Still signed in: the page session lives on.
    await page.goto(`${idp.baseUrl}/account`);
    await expect(page.locator("#signed-in-as").textContent()).resolves.toContain(person.email);
    await expect(page.locator("#events").textContent()).resolves.toContain("Password change refused");
  });

  it("refuses a form posted without its CSRF token, or with a forged one, and changes nothing", async () => {
    const person = await newPerson();
    const before = await passwordHash(person.email);
    const { page } = await newPage();
    await openAccount(page, person.email);
    const form = { current: PASSWORD, password: NEW_PASSWORD, repeat: NEW_PASSWORD };
    // The browser's own cookies (page session and CSRF secret) go along; only the token is missing.
    const missing = await page.request.post(`${idp.baseUrl}/account/password`, { form, maxRedirects: 0 });
    expect(missing.status()).toBeGreaterThanOrEqual(400);
    expect(missing.status()).toBeLessThan(500);
    const forged = await page.request.post(`${idp.baseUrl}/account/password`, { form: { ...form, _csrf: "forged-token" }, maxRedirects: 0 });
    expect(forged.status()).toBe(403);
    const everywhere = await page.request.post(`${idp.baseUrl}/account/sign-out-everywhere`, { form: { _csrf: "forged-token" }, maxRedirects: 0 });
    expect(everywhere.status()).toBe(403);
    expect(await passwordHash(person.email)).toBe(before);
    expect((await auditEvents(person.id)).map((event) => event.event)).not.toContain("password.changed");
    await page.goto(`${idp.baseUrl}/account`);
    await expect(page.locator("#signed-in-as").textContent()).resolves.toContain(person.email);
  });

  it("signs out everywhere: another browser's refresh token answers invalid_grant, and both browsers must sign in again", async () => {
    const person = await newPerson();
    const other = await newPage();
    const tokens = await signInToApp(other.page, person.email);
    // The refresh token works until then.
    const refreshed = await oidc.refreshTokenGrant(web, tokens.refresh_token!);
    const { page } = await newPage();
    await openAccount(page, person.email);
    await expect(page.locator("#apps").textContent()).resolves.toContain("Web App");
    expect(await page.locator("#sessions li").count()).toBe(2);

    await page.getByRole("button", { name: "Sign out everywhere" }).click();
    await page.getByRole("heading", { name: "Signed out", level: 1 }).waitFor();
    expect(await axeProblems(page, `${ARTIFACTS}account-signed-out`)).toEqual([]);
    await expect(refreshRefused(refreshed.refresh_token!)).resolves.toBe("invalid_grant");
    for (const each of [page, other.page]) {
      await each.goto(`${idp.baseUrl}/account`);
      await each.getByRole("heading", { name: "Sign in", level: 1 }).waitFor();
    }
    expect(await auditEvents(person.id)).toContainEqual(expect.objectContaining({ event: "sign_out.succeeded", details: expect.objectContaining({ scope: "everywhere" }) }));
  });

  it("signs out one other browser, and one application, leaving this browser signed in", async () => {
    const person = await newPerson();
    const other = await newPage();
    await openAccount(other.page, person.email);
    const app = await newPage();
    const tokens = await signInToApp(app.page, person.email);
    const { page } = await newPage();
    await openAccount(page, person.email);

    // Three browsers: this one first and marked.
    expect(await page.locator("#sessions li").count()).toBe(3);
    await expect(page.locator("#sessions li[data-current]").textContent()).resolves.toContain("This browser");
    // The application: signed out of it, its refresh token dead; its browser's session remains.
    await page.getByRole("button", { name: "Sign out of Web App" }).click();
    await page.waitForURL(/notice=appSignedOut/);
    await expect(refreshRefused(tokens.refresh_token!)).resolves.toBe("invalid_grant");
    await expect(page.locator("#apps").textContent()).resolves.toContain("No apps.");
    expect(await page.locator("#sessions li").count()).toBe(3);

    // The other browser signed in at /account: the newest other session that is not the app's.
    const otherUid = await sessionUidOf(other.context);
    await page.locator(`form[action="/account/sessions/${otherUid}/sign-out"] button`).click();
    await page.waitForURL(/notice=sessionSignedOut/);
    await expect(notice(page)).resolves.toBe("That browser was signed out.");
    expect(await page.locator("#sessions li").count()).toBe(2);
    await other.page.goto(`${idp.baseUrl}/account`);
    await other.page.getByRole("heading", { name: "Sign in", level: 1 }).waitFor();
    await page.goto(`${idp.baseUrl}/account`);
    await expect(page.locator("#signed-in-as").textContent()).resolves.toContain(person.email);

    // And this browser itself.
    await page.locator("#sessions li[data-current] button").click();
    await page.getByRole("heading", { name: "Signed out", level: 1 }).waitFor();
    await page.goto(`${idp.baseUrl}/account`);
    await page.getByRole("heading", { name: "Sign in", level: 1 }).waitFor();
  });

  it("is accessible, fits and has usable controls at phone and desktop width", async () => {
    const person = await newPerson();
    for (const width of [320, 1280]) {
      const { page, csp } = await newPage({ width });
      const tokens = await signInToApp(page, person.email);
      expect(tokens.refresh_token).toBeTruthy();
      for (const [name, path] of [
        ["account", "/account"],
        ["account-password", "/account/password"],
      ] as const) {
        await page.goto(`${idp.baseUrl}${path}`);
        await page.locator("h1").waitFor();
        const artefact = `${ARTIFACTS}${name}-${width}`;
        await page.screenshot({ path: `${artefact}.png`, fullPage: true });
        expect(await axeProblems(page, artefact), `${name} at ${width}`).toEqual([]);
        const wide = await overflow(page);
        expect(wide.offenders, `${name} at ${width}`).toEqual([]);
        expect(await smallControls(page), `${name} at ${width}`).toEqual([]);
        expect(await markupProblems(page), `${name} at ${width}`).toEqual(NO_MARKUP_PROBLEMS);
      }
      expect(csp).toEqual([]);
    }
  });

  it("speaks the browser's language", async () => {
    const person = await newPerson();
    const context = await chromium!.browser.newContext({ locale: "de-DE" });
    open.push(context);
    const page = await context.newPage();
    await page.goto(`${idp.baseUrl}/account`);
    await page.getByLabel("E-Mail-Adresse").fill(person.email);
    await page.getByLabel("Passwort").fill(PASSWORD);
    await page.getByRole("button", { name: "Anmelden", exact: true }).click();
    await page.waitForURL(`${idp.baseUrl}/account`);
    await page.getByRole("heading", { name: "Ihr Konto", level: 1 }).waitFor();
    await expect(page.locator("#sessions").textContent()).resolves.toContain("Überall abmelden");
  });
});

/** The IdP session (uid) of a browser, read from the provider's own session cookie through the store. */
async function sessionUidOf(context: BrowserContext): Promise<string> {
  const cookie = (await context.cookies()).find((each) => each.name === "_session");
  const { rows } = await idp.database.db.query<{ uid: string }>("SELECT uid FROM oidc_payloads WHERE model = 'Session' AND id = $1", [cookie!.value]);
  return rows[0]!.uid;
}
