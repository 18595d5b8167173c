// The admin console in a real Chromium (fixed clock for the authenticator app's codes): an
// administrator signs in through the IdP's own sign-in with a password and, having no second factor,
// is led to set up an authenticator app before the console opens (a later sign-in asks for its code);
// finds a user in the table, disables them (their refresh token then fails at openid-client's
// refreshTokenGrant), rotates a signing key and reads both changes in the audit trail, attributed
// to user:<id>; a person without the admin role gets 403 (and is not asked to set up a second
// factor); a change with a sign-in older than 15 minutes asks for the password and code again; every page is axe clean, without CSP violations, and every
// form that changes something carries its CSRF token.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { BrowserContext, Page } from "playwright-core";
import * as oidc from "openid-client";
import * as OTPAuth from "otpauth";
import { launchChromium, collectCspViolations, type Chromium } from "../support/chromium.ts";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { Browser } from "../support/browser.ts";
import { discover, exchange, signIn, startAuthorization, REDIRECT_URI } from "../support/oidc-flow.ts";
import { axeProblems, markupProblems } from "../pages/page-checks.ts";
import { storesOver } from "../../idp/store/stores.ts";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

const PASSWORD = "violet tractor sandwich";
const STEP_MS = 30_000;
// The middle of a 30-second step; each use of the app's code moves on one step (a code works once).
let clockMs = Math.floor(Date.now() / STEP_MS) * STEP_MS + STEP_MS / 2;
/** The administrator's authenticator app, once set up in the first test. */
let adminSecret: string | undefined;
const nextCode = () => {
  clockMs += STEP_MS;
  return OTPAuth.TOTP.generate({ secret: OTPAuth.Secret.fromBase32(adminSecret!), timestamp: clockMs });
};

let idp: TestIdp;
let chromium: Chromium | undefined;
let adminId: string;
let artefacts: string;

beforeAll(async () => {
  const launching = launchChromium().then((launched) => (chromium = launched));
  launching.catch(() => {});
  idp = await startTestIdp({ now: () => new Date(clockMs), env: { BRAND_NAME: "Acme", SIGN_IN_LIMIT_PER_IP: "0" } });
  adminId = (await idp.admin.addUser({ email: "root@example.com", password: PASSWORD, roles: ["admin"], emailVerified: true })).id;
  await idp.admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
  artefacts = await mkdtemp(path.join(os.tmpdir(), "admin-console-"));
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

/** Asked for the authenticator app's code after the password: enters the next one. */
async function enterCodeOnPage(page: Page): Promise<void> {
  await page.getByRole("heading", { name: "Two-step verification", level: 1 }).waitFor();
  expect(await page.getByLabel("Password").count()).toBe(0);
  await page.getByLabel("Code from your app").fill(nextCode());
  await page.getByRole("button", { name: "Verify" }).click();
}

/** No serious axe violation, no inline script or handler, a CSRF token in every form that posts. */
async function checkPage(page: Page, name: string): Promise<void> {
  expect(await axeProblems(page, path.join(artefacts, name)), `axe on ${name}`).toEqual([]);
  const markup = await markupProblems(page);
  expect(markup.inlineScripts).toEqual([]);
  expect(markup.handlers).toEqual([]);
  expect(markup.inputsWithoutAutocomplete).toEqual([]);
  const postingWithoutToken = await page.evaluate(() =>
    [...document.forms].filter((form) => form.method === "post" && !form.querySelector('input[type="hidden"][name="_csrf"]')?.getAttribute("value")).length,
  );
  expect(postingWithoutToken).toBe(0);
}

describe("the admin console", () => {
  it("lets an administrator find and disable a user (whose refresh token then fails), rotate a key and read it all in the audit trail", async () => {
    // The person to be disabled holds a refresh token of an app.
    const victim = await idp.admin.addUser({ email: "mallory@example.com", name: "Mallory", password: PASSWORD });
    const web = await discover(idp.issuer, "web");
    const start = await startAuthorization(web);
    const callback = await signIn(new Browser(), start, { email: victim.email, password: PASSWORD });
    const tokens = await exchange(web, start, callback.url);
    expect(tokens.refresh_token).toBeTruthy();
    // Mallory also signs in through an upstream provider (kept off the sign-in page here), and has a
    // link left by a provider since removed (its links stay: migrations/018).
    const upstreamsAt = (iso: string) => storesOver(idp.database.db, () => new Date(iso)).upstreams;
    const upstreams = upstreamsAt("2026-03-01T10:00:00.000Z");
    await upstreams.addProvider({
      id: "acme-sso", kind: "oidc", issuer: "https://sso.acme.example", clientId: "idp", clientSecret: null, scopes: "openid email",
      displayName: "Acme SSO", trustEmail: false, allowSignUp: false, emailDomains: [], options: {},
    });
    await upstreams.setProviderEnabled("acme-sso", false);
    await upstreams.link({ issuer: "https://sso.acme.example", subject: "mallory-4711", userId: victim.id, providerId: "acme-sso", email: "m@acme.example", name: null, picture: null });
    await upstreamsAt("2026-04-02T11:30:00.000Z").link({ issuer: "https://old.example", subject: "m<&>", userId: victim.id, providerId: "old-sso", email: null, name: null, picture: null });

    const { page, csp } = await newPage();
    await page.goto(`${idp.baseUrl}/admin`);
    await signInOnPage(page, "root@example.com");
    // A password is not enough for the console: an administrator without a second factor sets up an
    // authenticator app inside the sign-in (asked for the missing factor only), whatever MFA says.
    await page.getByRole("heading", { name: "Set up two-step verification", level: 1 }).waitFor();
    expect(await page.getByLabel("Password").count()).toBe(0);
    adminSecret = (await page.locator("#totp-secret").textContent())!.replace(/\s/g, "");
    expect(adminSecret).toMatch(/^[A-Z2-7]{32}$/);
    await page.getByLabel("Code from your app").fill(nextCode());
    await page.getByRole("button", { name: "Turn on" }).click();
    await page.getByRole("heading", { name: "Save your recovery codes", level: 1 }).waitFor();
    expect(await page.locator("#recovery-codes li").count()).toBe(10);
    await page.getByRole("button", { name: "I have saved them, continue" }).click();
    await page.waitForURL(`${idp.baseUrl}/admin`);
    await page.getByRole("heading", { name: "Administration", level: 1 }).waitFor();
    await checkPage(page, "home");

    await page.getByRole("link", { name: "Users" }).click();
    await page.waitForURL(`${idp.baseUrl}/admin/users`);
    await expect(page.locator("table#users tbody tr").count()).resolves.toBe(2);
    await checkPage(page, "users");
    await page.getByLabel("Search by email or name").fill("mallo");
    await page.getByRole("button", { name: "Search" }).click();
    await page.waitForURL(/\/admin\/users\?search=mallo/);
    await expect(page.locator("table#users tbody tr").count()).resolves.toBe(1);
    await page.getByRole("link", { name: "mallory@example.com" }).click();
    await page.getByRole("heading", { name: "mallory@example.com", level: 1 }).waitFor();
    await expect(page.locator("#session-count").textContent()).resolves.toBe("1 active session");
    const identities = await page.locator("table#identities tbody tr").evaluateAll((rows) =>
      rows.map((row) => [...row.querySelectorAll("td")].map((cell) => (cell.querySelector("time")?.getAttribute("datetime") ?? cell.textContent)!.trim())),
    );
    // Oldest first; named after the provider, or by its id once it is gone; the subject escaped.
    expect(identities).toEqual([
      ["Acme SSO", "https://sso.acme.example", "mallory-4711", "2026-03-01T10:00:00.000Z"],
      ["old-sso", "https://old.example", "m<&>", "2026-04-02T11:30:00.000Z"],
    ]);
    await checkPage(page, "user");

    await page.getByRole("button", { name: "Disable" }).click();
    await page.waitForURL(/\?done=disable$/);
    await expect(page.locator("#user-status").textContent()).resolves.toBe("Disabled");
    await expect(oidc.refreshTokenGrant(web, tokens.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });

    await page.getByLabel("Roles (comma-separated)").fill("Bad Role");
    await page.getByRole("button", { name: "Save roles" }).click();
    await page.getByRole("alert").waitFor();
    await checkPage(page, "user-error");
    expect((await idp.admin.users.findById(victim.id))!.roles).toEqual([]);
    await page.getByLabel("Roles (comma-separated)").fill("support, billing");
    await page.getByRole("button", { name: "Save roles" }).click();
    await page.waitForURL(/\?done=roles$/);
    await expect(page.locator("#user-roles").textContent()).resolves.toBe("billing, support");

    await page.goto(`${idp.baseUrl}/admin/keys`);
    await expect(page.locator("table#keys tbody tr").count()).resolves.toBe(1);
    await checkPage(page, "keys");
    await page.getByRole("button", { name: "Rotate signing key" }).click();
    await page.waitForURL(/\/admin\/keys\?done=rotate$/);
    const statuses = await page.locator("table#keys tbody tr td:nth-child(2)").allTextContents();
    expect(statuses.sort()).toEqual(["next", "signing"]);

    await page.goto(`${idp.baseUrl}/admin/audit`);
    await page.getByLabel("Actor").fill(`user:${adminId}`);
    await page.getByRole("button", { name: "Filter" }).click();
    await page.waitForURL(/\/admin\/audit\?/);
    await checkPage(page, "audit");
    const events = await page.locator("table.audit tbody tr td:nth-child(2)").allTextContents();
    // Newest first; the administrator's own sign-in is theirs too.
    expect(events.filter((event) => !event.startsWith("sign_in."))).toEqual(["key.generated", "user.roles_changed", "user.disabled", "mfa.totp_enrolled"]);
    expect(events).toContain("sign_in.succeeded");
    const rows = await idp.database.db.query<{ event: string; actor: string; user_id: string | null }>(
      "SELECT event, actor, user_id FROM audit_events WHERE actor = $1 AND event NOT LIKE 'sign_in.%' ORDER BY id",
      [`user:${adminId}`],
    );
    expect(rows.rows).toEqual([
      { event: "mfa.totp_enrolled", actor: `user:${adminId}`, user_id: adminId },
      { event: "user.disabled", actor: `user:${adminId}`, user_id: victim.id },
      { event: "user.roles_changed", actor: `user:${adminId}`, user_id: victim.id },
      { event: "key.generated", actor: `user:${adminId}`, user_id: null },
    ]);

    await page.goto(`${idp.baseUrl}/admin/clients`);
    await expect(page.locator("table#clients tbody tr").count()).resolves.toBe(1);
    await checkPage(page, "clients");
    expect(csp).toEqual([]);

    // Another browser: the password, then the app's code (no new setup), then the console.
    const second = await newPage();
    await second.page.goto(`${idp.baseUrl}/admin/users`);
    await signInOnPage(second.page, "root@example.com");
    await enterCodeOnPage(second.page);
    await second.page.waitForURL(`${idp.baseUrl}/admin/users`);
    await expect(second.page.locator("table#users tbody tr").count()).resolves.toBe(2);
    expect(second.csp).toEqual([]);
    const enrolments = await idp.database.db.query("SELECT 1 FROM audit_events WHERE event = 'mfa.totp_enrolled'");
    expect(enrolments.rowCount).toBe(1);
  }, 180_000);

  it("answers 403 to a signed-in person without the admin role", async () => {
    await idp.admin.addUser({ email: "editor@example.com", password: PASSWORD, roles: ["editor"] });
    const { page } = await newPage();
    await page.goto(`${idp.baseUrl}/admin/users`);
    const answer = page.waitForResponse((response) => new URL(response.url()).pathname === "/admin/users");
    await signInOnPage(page, "editor@example.com");
    expect((await answer).status()).toBe(403);
    await page.getByRole("heading", { name: "Not allowed", level: 1 }).waitFor();
    await checkPage(page, "forbidden");
    expect((await page.goto(`${idp.baseUrl}/admin`))?.status()).toBe(403);
    // The role is checked before any second factor is asked: nobody else is made to set one up.
    const editorFactors = await idp.database.db.query("SELECT 1 FROM totp_factors f JOIN users u ON u.id = f.user_id WHERE u.email = 'editor@example.com'");
    expect(editorFactors.rowCount).toBe(0);
  }, 60_000);

  it("asks for the password and the app's code again before a change when the sign-in is older than 15 minutes", async () => {
    expect(adminSecret, "the administrator set up an app in the first test").toBeTruthy();
    const target = await idp.admin.addUser({ email: "target@example.com", password: PASSWORD });
    const { page, context } = await newPage();
    await page.goto(`${idp.baseUrl}/admin/users/${target.id}`);
    await signInOnPage(page, "root@example.com");
    await enterCodeOnPage(page);
    await page.getByRole("heading", { name: "target@example.com", level: 1 }).waitFor();

    // The IdP session's sign-in becomes 16 minutes old; reading still works, a change does not.
    await idp.database.db.query(
      `UPDATE oidc_payloads SET payload = jsonb_set(payload, '{loginTs}', to_jsonb((payload->>'loginTs')::bigint - 960))
        WHERE model = 'Session' AND payload->>'accountId' = $1`,
      [adminId],
    );
    await context.clearCookies({ name: "idp_admin" });
    await page.reload();
    await page.getByRole("heading", { name: "target@example.com", level: 1 }).waitFor();
    await page.getByRole("button", { name: "Sign out everywhere" }).click();
    await page.getByRole("heading", { name: "Sign in", level: 1 }).waitFor();
    const before = await idp.database.db.query("SELECT 1 FROM audit_events WHERE event = 'user.sessions_revoked' AND user_id = $1", [target.id]);
    expect(before.rowCount).toBe(0);
    await signInOnPage(page, undefined);
    await enterCodeOnPage(page);
    await page.getByRole("heading", { name: "target@example.com", level: 1 }).waitFor();
    expect(new URL(page.url()).pathname).toBe(`/admin/users/${target.id}`);
  }, 60_000);
});
