// The IdP's own sign-in for its pages (http/idp-session.ts) in a real Chromium: /account sends a
// stranger through the provider's sign-in page and back, showing who signed in; a second visit in
// the same session goes straight to the page; a sign-in older than five minutes is asked again
// (max_age) before a credential can be changed; ending the IdP session ends the page session.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { BrowserContext, Page } from "playwright-core";
import { launchChromium, collectCspViolations, type Chromium } from "../support/chromium.ts";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { Browser } from "../support/browser.ts";

const PASSWORD = "violet tractor sandwich";

let idp: TestIdp;
let chromium: Chromium | undefined;
let people = 0;

beforeAll(async () => {
  const launching = launchChromium().then((launched) => (chromium = launched));
  launching.catch(() => {});
  idp = await startTestIdp({ env: { BRAND_NAME: "Acme", SIGN_IN_LIMIT_PER_IP: "0" } });
  await launching;
}, 120_000);
const open: BrowserContext[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((context) => context.close()));
});
afterAll(async () => {
  await chromium?.close();
  await idp?.close();
});

async function newPerson(): Promise<string> {
  const email = `person${++people}@example.com`;
  await idp.admin.addUser({ email, password: PASSWORD });
  return email;
}

async function newPage(): Promise<{ page: Page; context: BrowserContext; csp: string[] }> {
  const context = await chromium!.newContext();
  open.push(context);
  const page = await context.newPage();
  return { page, context, csp: collectCspViolations(page) };
}

async function signInOnPage(page: Page, email: string | undefined): Promise<void> {
  await page.getByRole("heading", { name: "Sign in", level: 1 }).waitFor();
  if (email) await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
}

/** Signs in at /account from a fresh browser; the page then shows who signed in. */
async function signInToAccount(page: Page, email: string): Promise<void> {
  await page.goto(`${idp.baseUrl}/account`);
  await signInOnPage(page, email);
  await page.waitForURL(`${idp.baseUrl}/account`);
}

describe("the IdP's own sign-in for its pages", { timeout: 90_000 }, () => {
  it("sends a stranger through the provider's sign-in and back to /account, then lets a second visit straight in", async () => {
    const email = await newPerson();
    const { page, context, csp } = await newPage();
    const first = await page.goto(`${idp.baseUrl}/account`);
    // The provider's own sign-in page, reached through /auth with the built-in client.
    expect(new URL(page.url()).pathname).toMatch(/^\/interaction\//);
    expect(first?.request().redirectedFrom()?.url()).toContain("/oidc/auth?");
    await signInOnPage(page, email);
    await page.waitForURL(`${idp.baseUrl}/account`);
    await expect(page.locator("#signed-in-as").textContent()).resolves.toBe(`Signed in as ${email}`);

    // The page session: signed, HttpOnly, SameSite=Lax, only for /account.
    const cookie = (await context.cookies()).find((each) => each.name === "idp_account");
    expect(cookie).toMatchObject({ path: "/account", httpOnly: true, sameSite: "Lax" });

    const second = await page.goto(`${idp.baseUrl}/account`);
    expect(second?.status()).toBe(200);
    expect(second?.request().redirectedFrom()).toBeNull();
    await expect(page.locator("#signed-in-as").textContent()).resolves.toBe(`Signed in as ${email}`);
    expect(csp).toEqual([]);
  });

  it("passes silently through the provider when the IdP session exists but the page session does not", async () => {
    const email = await newPerson();
    const { page, context } = await newPage();
    await signInToAccount(page, email);
    await context.clearCookies({ name: "idp_account" });
    await page.goto(`${idp.baseUrl}/account`);
    expect(page.url()).toBe(`${idp.baseUrl}/account`);
    await expect(page.locator("#signed-in-as").textContent()).resolves.toBe(`Signed in as ${email}`);
  });

  it("asks again (max_age) for a sign-in older than five minutes before a credential can be changed", async () => {
    const email = await newPerson();
    const { page, context } = await newPage();
    await signInToAccount(page, email);
    // A fresh sign-in goes straight to the form.
    await page.goto(`${idp.baseUrl}/account/password`);
    await page.getByRole("heading", { name: "Change your password", level: 1 }).waitFor();

    // The IdP session's sign-in becomes ten minutes old; the page session, made again from it, too.
    const { rowCount } = await idp.database.db.query(
      `UPDATE oidc_payloads SET payload = jsonb_set(payload, '{loginTs}', to_jsonb((payload->>'loginTs')::bigint - 600))
        WHERE model = 'Session' AND payload->>'accountId' = (SELECT id FROM users WHERE email = $1)`,
      [email],
    );
    expect(rowCount).toBe(1);
    await context.clearCookies({ name: "idp_account" });
    await page.goto(`${idp.baseUrl}/account`);
    await expect(page.locator("#signed-in-as").textContent()).resolves.toBe(`Signed in as ${email}`);

    await page.goto(`${idp.baseUrl}/account/password`);
    // Asked again, with the email already filled in (login_hint); then back at the form.
    await page.getByRole("heading", { name: "Sign in", level: 1 }).waitFor();
    await expect(page.getByLabel("Email").inputValue()).resolves.toBe(email);
    await signInOnPage(page, undefined);
    await page.waitForURL(`${idp.baseUrl}/account/password`);
    await page.getByRole("heading", { name: "Change your password", level: 1 }).waitFor();
  });

  it("ends the page session when the IdP session ends", async () => {
    const email = await newPerson();
    const { page } = await newPage();
    await signInToAccount(page, email);
    await page.goto(`${idp.issuer}/session/end`);
    await page.getByRole("button", { name: "Sign out", exact: true }).click();
    await page.getByRole("heading", { name: "Signed out", level: 1 }).waitFor();
    await page.goto(`${idp.baseUrl}/account`);
    await page.getByRole("heading", { name: "Sign in", level: 1 }).waitFor();
    expect(new URL(page.url()).pathname).toMatch(/^\/interaction\//);
  });

  it("turns away a person disabled since signing in, and sends a deleted one to sign in", async () => {
    const disabled = await newPerson();
    const { page } = await newPage();
    await signInToAccount(page, disabled);
    await idp.admin.setDisabled(disabled, true);
    const refused = await page.goto(`${idp.baseUrl}/account`);
    expect(refused?.status()).toBe(403);
    await expect(page.locator("main").textContent()).resolves.toContain("disabled");

    const deleted = await newPerson();
    const other = await newPage();
    await signInToAccount(other.page, deleted);
    await idp.admin.deleteUser(deleted);
    await other.page.goto(`${idp.baseUrl}/account`);
    await other.page.getByRole("heading", { name: "Sign in", level: 1 }).waitFor();
  });

  it("refuses a callback without the browser's pending sign-in (state)", async () => {
    const response = await idp.app.inject({ method: "GET", url: "/account/signed-in?code=x&state=y", headers: { host: new URL(idp.issuer).host, accept: "text/html" } });
    expect(response.statusCode).toBe(400);
  });
});

describe("the IdP's own pages under the MFA policy", { timeout: 90_000 }, () => {
  let strict: TestIdp;
  beforeAll(async () => {
    strict = await startTestIdp({ env: { MFA: "required", SIGN_IN_LIMIT_PER_IP: "0" } });
    await strict.admin.addUser({ email: "mira@example.com", password: PASSWORD });
  }, 60_000);
  afterAll(async () => strict?.close());

  it("asks for the second factor before /account, as for any application (MFA=required: set one up first)", async () => {
    const browser = new Browser();
    const atAccount = (url: string) => new URL(url).pathname === "/account";
    const login = await browser.follow(`${strict.baseUrl}/account`, atAccount);
    expect(login.url).toMatch(/\/interaction\/[^/]+$/);
    const next = await browser.submit(login, "/login", { email: "mira@example.com", password: PASSWORD }, atAccount);
    expect(next.url).toMatch(/\/interaction\/[^/]+\/second-factor$/);
    expect(browser.cookieNames()).not.toContain("idp_account");
  });
});
