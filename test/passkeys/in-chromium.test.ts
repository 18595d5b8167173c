// Passkeys in a real Chromium with the DevTools virtual authenticator (a CTAP2 platform
// authenticator with resident keys and user verification), on localhost, with openid-client as the
// relying party and the strict Convex verifier reading its ID token: registration, passwordless
// sign-in (amr hwk+mfa+user, acr phr), and every refusal: no user verification, a bogus signature,
// a counter that went backwards (audited), a passkey removed on the server, a locked account. The
// sign-in page without script still signs in with a password, and with the passkey button is axe
// clean with no CSP violation.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import * as oidc from "openid-client";
import type { BrowserContext, CDPSession, Page } from "playwright-core";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { launchChromium, type Chromium } from "../support/chromium.ts";
import { discover, exchange, startAuthorization, type AuthorizationStart } from "../support/oidc-flow.ts";
import { verifyConvexToken } from "../support/convex-verifier.ts";
import { axeProblems, markupProblems, NO_MARKUP_PROBLEMS } from "../pages/page-checks.ts";
import { createPasskeys, supportedAlgorithms, type Passkeys } from "../../idp/accounts/passkeys.ts";
import { decodeCredentialPublicKey, cose } from "@simplewebauthn/server/helpers";
import { storesOver } from "../../idp/store/stores.ts";

const ARTIFACTS = fileURLToPath(new URL("../../test-artifacts/pages/", import.meta.url));
const PASSWORD = "correct horse battery";
const LOCKOUT_THRESHOLD = 3;

let idp: TestIdp;
let web: oidc.Configuration;
let application: http.Server;
let callbackUri: string;
let chromium: Chromium | undefined;
/** Registration as the account page will do it: the accounts-level functions over the IdP's database. */
let passkeys: Passkeys;
let people = 0;

beforeAll(async () => {
  const launching = launchChromium().then((launched) => (chromium = launched));
  launching.catch(() => {});
  application = http.createServer((_, response) => response.writeHead(200, { "content-type": "text/plain" }).end("the application"));
  await new Promise<void>((resolve) => application.listen(0, "127.0.0.1", resolve));
  callbackUri = `http://localhost:${(application.address() as AddressInfo).port}/callback`;
  idp = await startTestIdp({
    env: { BRAND_NAME: "Acme", SIGN_IN_METHODS: "password", SIGN_IN_LIMIT_PER_IP: "0", LOCKOUT_THRESHOLD: String(LOCKOUT_THRESHOLD), SIGN_IN_DELAY_MAX_MS: "0" },
  });
  expect(new URL(idp.issuer).hostname).toBe("localhost");
  await idp.admin.addClient({ id: "web", name: "Web App", public: true, firstParty: true, redirectUris: [callbackUri] });
  web = await discover(idp.issuer, "web");
  const db = idp.database.db;
  passkeys = createPasskeys({
    db,
    stores: (queryable) => storesOver(queryable, () => new Date()),
    settings: { rpId: idp.config.webauthnRpId, origin: new URL(idp.issuer).origin, rpName: idp.config.brandName },
    now: () => new Date(),
  });
  await mkdir(ARTIFACTS, { recursive: true });
  await launching;
}, 120_000);

const open: BrowserContext[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((context) => context.close()));
});
afterAll(async () => {
  await chromium?.close();
  await idp?.close();
  application?.closeAllConnections();
  await new Promise((resolve) => application?.close(resolve));
});

type Device = { page: Page; cdp: CDPSession; authenticatorId: string; cspViolations: string[]; pageErrors: string[] };

/**
 * A fresh browser with a virtual platform authenticator that verifies its user (as a fingerprint
 * would). The virtual authenticator answers autofill's conditional request at once, so a page that
 * offers autofill signs in by itself; `autofill: false` is a browser without it, where the button
 * is the way.
 */
async function deviceWithAuthenticator({ autofill = false }: { autofill?: boolean } = {}): Promise<Device> {
  const context = await chromium!.newContext();
  open.push(context);
  const page = await context.newPage();
  if (!autofill) await page.addInitScript(() => (PublicKeyCredential.isConditionalMediationAvailable = async () => false));
  const cspViolations: string[] = [];
  const pageErrors: string[] = [];
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
  });
  page.on("pageerror", (error) => pageErrors.push(error.message));
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { page, cdp, authenticatorId, cspViolations, pageErrors };
}

async function newPerson() {
  const email = `passkey-person${++people}@example.com`;
  const user = await idp.admin.addUser({ email, password: PASSWORD });
  return { id: user.id, email };
}

const atCallback = (url: URL) => url.href.startsWith(callbackUri);

/**
 * The application's authorization request, signed out (the IdP's cookies cleared; the
 * authenticator keeps its passkeys), up to the sign-in page with its passkey button shown by the script.
 */
async function openSignIn(page: Page): Promise<AuthorizationStart> {
  await page.context().clearCookies();
  const start = await startAuthorization(web, { redirect_uri: callbackUri });
  await page.goto(start.url.toString());
  await page.getByRole("button", { name: "Sign in with a passkey" }).waitFor();
  return start;
}

/** Registers a passkey for this person from a page of the IdP's origin (what the account page's script does). */
async function register(device: Device, person: { id: string }, name = "Laptop") {
  if (!device.page.url().startsWith(new URL(idp.issuer).origin)) await device.page.goto(`${new URL(idp.issuer).origin}/healthz`);
  const options = await passkeys.registrationOptions(person.id);
  const response = await device.page.evaluate(async (json) => {
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(json);
    const credential = (await navigator.credentials.create({ publicKey })) as PublicKeyCredential;
    return credential.toJSON();
  }, options as unknown as PublicKeyCredentialCreationOptionsJSON);
  const result = await passkeys.register({ userId: person.id, response: response as never, name });
  expect(result.ok).toBe(true);
  return result.ok ? result.passkey : undefined!;
}

function decodeCoseAlg(publicKey: Uint8Array<ArrayBuffer>): number {
  return decodeCredentialPublicKey(publicKey).get(cose.COSEKEYS.alg) as number;
}

async function credentialRow(id: string) {
  const { rows } = await idp.database.db.query<{ counter: string; last_used_at: Date | null; public_key: Buffer }>(
    "SELECT counter, last_used_at, public_key FROM webauthn_credentials WHERE id = $1",
    [id],
  );
  return rows[0];
}

async function auditEvents(userId: string, event: string) {
  const { rows } = await idp.database.db.query<{ details: Record<string, unknown> }>(
    "SELECT details FROM audit_events WHERE user_id = $1 AND event = $2 ORDER BY id",
    [userId, event],
  );
  return rows.map((row) => row.details);
}

/** Clicks "Sign in with a passkey" and waits for the answer: the application, or the page with its error. */
async function clickPasskey(page: Page): Promise<"application" | string> {
  const answered = page.waitForResponse((response) => response.request().method() === "POST" && /\/interaction\/[^/]+\/passkey$/.test(response.url()));
  await page.getByRole("button", { name: "Sign in with a passkey" }).click();
  const response = await answered;
  if (response.status() === 303) {
    await page.waitForURL(atCallback);
    return "application";
  }
  await page.waitForLoadState();
  return `${response.status()} ${(await page.locator(".error-summary, [role=alert]").first().textContent())?.replace(/\s+/g, " ").trim()}`;
}

// Each test walks several pages in a browser: generous time on a loaded machine (no timing is asserted).
describe("passkeys in Chromium", { timeout: 90_000 }, () => {
  it("registers a passkey and signs in with it alone through autofill: our ID token says hwk, user, mfa and phr, and Convex accepts it", async () => {
    const device = await deviceWithAuthenticator({ autofill: true });
    const person = await newPerson();
    const passkey = await register(device, person);
    expect(passkey).toMatchObject({ userId: person.id, rpId: "localhost", deviceType: "singleDevice", backedUp: false, name: "Laptop" });
    expect(await auditEvents(person.id, "passkey.added")).toEqual([expect.objectContaining({ passkey: "Laptop", key: "hwk" })]);
    const { credentials } = (await device.cdp.send("WebAuthn.getCredentials", { authenticatorId: device.authenticatorId })) as { credentials: { isResidentCredential: boolean }[] };
    expect(credentials).toEqual([expect.objectContaining({ isResidentCredential: true })]);

    // The page offers the passkey to autofill as it loads; the authenticator answers, the page posts it.
    const start = await startAuthorization(web, { redirect_uri: callbackUri });
    await device.page.goto(start.url.toString());
    await device.page.waitForURL(atCallback);
    const tokens = await exchange(web, start, device.page.url());
    const claims = tokens.claims()!;
    const host = new URL(idp.issuer).host;
    expect(claims).toMatchObject({ sub: person.id, amr: ["hwk", "mfa", "user"], acr: `urn:${host}:acr:phr` });
    expect(await verifyConvexToken(tokens.id_token!, [{ domain: idp.issuer, applicationID: "web" }])).toMatchObject({
      subject: person.id,
      tokenIdentifier: `${idp.issuer}|${person.id}`,
    });
    const row = await credentialRow(passkey.id);
    expect(Number(row!.counter)).toBeGreaterThan(0);
    expect(row!.last_used_at).toBeInstanceOf(Date);
    expect(await auditEvents(person.id, "sign_in.succeeded")).toEqual([expect.objectContaining({ method: "passkey", key: "hwk" })]);
    expect(device.cspViolations).toEqual([]);
    expect(device.pageErrors).toEqual([]);
  });

  it("signs in with the button where the browser has no autofill, with a key of an algorithm we offered", async () => {
    const device = await deviceWithAuthenticator();
    const person = await newPerson();
    const passkey = await register(device, person);
    // The COSE key's alg (label 3), whichever Chromium chose from pubKeyCredParams (ML-DSA where it can).
    const alg = decodeCoseAlg(passkey.publicKey);
    expect(supportedAlgorithms()).toContain(alg);
    const start = await openSignIn(device.page);
    expect(await clickPasskey(device.page)).toBe("application");
    const tokens = await exchange(web, start, device.page.url());
    expect(tokens.claims()).toMatchObject({ sub: person.id, amr: ["hwk", "mfa", "user"], acr: `urn:${new URL(idp.issuer).host}:acr:phr` });
  });

  it("is the second factor after a password: the second-factor step offers it, and the token carries both", async () => {
    const device = await deviceWithAuthenticator();
    const person = await newPerson();
    await register(device, person);
    const start = await openSignIn(device.page);
    await device.page.getByLabel("Email").fill(person.email);
    await device.page.getByLabel("Password").fill(PASSWORD);
    await device.page.getByRole("button", { name: "Sign in", exact: true }).click();
    // Someone with a passkey has a second factor: the sign-in is held until it is used.
    await device.page.waitForURL(/\/second-factor/);
    expect(await clickPasskey(device.page)).toBe("application");
    const tokens = await exchange(web, start, device.page.url());
    expect(tokens.claims()).toMatchObject({ sub: person.id, amr: ["hwk", "mfa", "pwd", "user"], acr: `urn:${new URL(idp.issuer).host}:acr:phr` });
    expect(device.cspViolations).toEqual([]);
    expect(device.pageErrors).toEqual([]);
  });

  it("refuses an assertion without user verification, though the passkey's signature is right", async () => {
    const device = await deviceWithAuthenticator();
    const person = await newPerson();
    await register(device, person);
    // A page (or a script) that asks for no user verification, and an authenticator that does none.
    await device.page.route("**/passkey/options", async (route) => {
      const response = await route.fetch();
      route.fulfill({ response, json: { ...(await response.json()), userVerification: "discouraged" } });
    });
    await device.cdp.send("WebAuthn.setUserVerified", { authenticatorId: device.authenticatorId, isUserVerified: false });
    await openSignIn(device.page);
    expect(await clickPasskey(device.page)).toMatch(/^401 .*That passkey could not sign you in/);
    expect(await auditEvents(person.id, "sign_in.failed")).toEqual([expect.objectContaining({ method: "passkey", reason: "invalid_assertion" })]);
    expect(await auditEvents(person.id, "sign_in.succeeded")).toEqual([]);
  });

  it("refuses a bogus signature", async () => {
    const device = await deviceWithAuthenticator();
    const person = await newPerson();
    await register(device, person);
    await device.page.route("**/interaction/*/passkey", async (route) => {
      const form = new URLSearchParams(route.request().postData() ?? "");
      const credential = JSON.parse(form.get("credential")!);
      const signature = Buffer.from(credential.response.signature, "base64url");
      signature[signature.length - 5]! ^= 0xff;
      credential.response.signature = signature.toString("base64url");
      form.set("credential", JSON.stringify(credential));
      await route.continue({ postData: form.toString() });
    });
    await openSignIn(device.page);
    expect(await clickPasskey(device.page)).toMatch(/^401 .*That passkey could not sign you in/);
    expect(await auditEvents(person.id, "sign_in.failed")).toEqual([expect.objectContaining({ method: "passkey", reason: "invalid_assertion" })]);
  });

  it("refuses a counter that went backwards (a cloned authenticator) and audits it", async () => {
    const device = await deviceWithAuthenticator();
    const person = await newPerson();
    const passkey = await register(device, person);
    await openSignIn(device.page);
    expect(await clickPasskey(device.page)).toBe("application");
    const used = Number((await credentialRow(passkey.id))!.counter);
    // Another copy of the key went further: the server has seen a higher counter than this one sends.
    await idp.database.db.query("UPDATE webauthn_credentials SET counter = $2 WHERE id = $1", [passkey.id, used + 100]);
    await openSignIn(device.page);
    expect(await clickPasskey(device.page)).toMatch(/^401 .*That passkey could not sign you in/);
    expect(await auditEvents(person.id, "passkey.counter_regressed")).toEqual([expect.objectContaining({ passkey: "Laptop", stored: used + 100, presented: used + 1 })]);
    expect(Number((await credentialRow(passkey.id))!.counter)).toBe(used + 100);
  });

  it("refuses a passkey removed on the server", async () => {
    const device = await deviceWithAuthenticator();
    const person = await newPerson();
    const passkey = await register(device, person);
    expect(await passkeys.remove(person.id, passkey.id)).toBe(true);
    expect(await auditEvents(person.id, "passkey.removed")).toEqual([expect.objectContaining({ passkey: "Laptop" })]);
    await openSignIn(device.page);
    expect(await clickPasskey(device.page)).toMatch(/^401 .*That passkey could not sign you in/);
  });

  it("counts failures toward the account's lockout: once locked, even the right passkey waits", async () => {
    const device = await deviceWithAuthenticator();
    const person = await newPerson();
    await register(device, person);
    let bogus = true;
    await device.page.route("**/interaction/*/passkey", async (route) => {
      if (!bogus) return route.continue();
      const form = new URLSearchParams(route.request().postData() ?? "");
      const credential = JSON.parse(form.get("credential")!);
      credential.response.signature = Buffer.from("not a signature").toString("base64url");
      form.set("credential", JSON.stringify(credential));
      await route.continue({ postData: form.toString() });
    });
    await openSignIn(device.page);
    for (let attempt = 1; attempt < LOCKOUT_THRESHOLD; attempt++) expect(await clickPasskey(device.page)).toMatch(/^401 /);
    expect(await clickPasskey(device.page)).toMatch(/^429 .*Too many failed sign-ins for this account/);
    expect(await auditEvents(person.id, "account.locked")).toHaveLength(1);
    bogus = false;
    expect(await clickPasskey(device.page)).toMatch(/^429 /);
    // The password waits too: it is the same account's lock.
    await device.page.getByLabel("Email").fill(person.email);
    await device.page.getByLabel("Password").fill(PASSWORD);
    await device.page.getByRole("button", { name: "Sign in", exact: true }).click();
    await device.page.getByText("Too many failed sign-ins for this email").waitFor();
    expect(await auditEvents(person.id, "sign_in.succeeded")).toEqual([]);
  });

  it("shows the passkey button only with script: without it the page signs in with a password", async () => {
    const context = await chromium!.browser.newContext({ javaScriptEnabled: false });
    open.push(context);
    const page = await context.newPage();
    const person = await newPerson();
    const start = await startAuthorization(web, { redirect_uri: callbackUri });
    await page.goto(start.url.toString());
    await page.getByLabel("Email").waitFor();
    expect(await page.getByRole("button", { name: "Sign in with a passkey" }).isVisible()).toBe(false);
    await page.getByLabel("Email").fill(person.email);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.waitForURL(atCallback);
    const tokens = await exchange(web, start, page.url());
    expect(tokens.claims()).toMatchObject({ sub: person.id, amr: ["pwd"] });
  });

  it("keeps the sign-in page with the passkey button, and its error, axe clean with no inline script", async () => {
    const device = await deviceWithAuthenticator();
    await openSignIn(device.page);
    for (const scheme of ["light", "dark"] as const) {
      await device.page.emulateMedia({ colorScheme: scheme });
      expect(await axeProblems(device.page, `${ARTIFACTS}passkey-sign-in-${scheme}`)).toEqual([]);
    }
    expect(await markupProblems(device.page)).toEqual(NO_MARKUP_PROBLEMS);
    // Autofill offers passkeys in the email field.
    expect(await device.page.getByLabel("Email").getAttribute("autocomplete")).toBe("username webauthn");
    const person = await newPerson();
    const passkey = await register(device, person);
    await passkeys.remove(person.id, passkey.id);
    await openSignIn(device.page);
    expect(await clickPasskey(device.page)).toMatch(/^401 /);
    expect(await axeProblems(device.page, `${ARTIFACTS}passkey-sign-in-error`)).toEqual([]);
    expect(await markupProblems(device.page)).toEqual(NO_MARKUP_PROBLEMS);
    expect(device.cspViolations).toEqual([]);
    expect(device.pageErrors).toEqual([]);
  });
});
