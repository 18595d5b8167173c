// The MFA policy applies to an existing session too (single sign-on), against a real server with
// openid-client as the applications: a password-only session does not reach a client that requires
// a second factor, nor a person who has since set up an app; both are asked only for the missing
// factor (the same person), and the tokens then carry mfa.
import * as OTPAuth from "otpauth";
import type * as oidc from "openid-client";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { Browser, type Page } from "../support/browser.ts";
import { discover, exchange, startAuthorization, REDIRECT_URI, type AuthorizationStart } from "../support/oidc-flow.ts";

const STEP_MS = 30_000;
let clockMs = Math.floor(Date.now() / STEP_MS) * STEP_MS + STEP_MS / 2;
const now = () => new Date(clockMs);
const codeFor = (secret: string) => OTPAuth.TOTP.generate({ secret: OTPAuth.Secret.fromBase32(secret), timestamp: clockMs });
const atCallback = (url: string) => url.startsWith(REDIRECT_URI);
const password = "correct horse battery";
const env = { SIGN_IN_LIMIT_PER_IP: "0", SIGN_IN_LIMIT_PER_ACCOUNT: "0", LOCKOUT_THRESHOLD: "100" };
const secretOf = (page: Page) => /id="totp-secret">([A-Z2-7 ]+)</.exec(page.html)![1]!.replace(/ /g, "");

async function passwordStep(browser: Browser, start: AuthorizationStart, email: string): Promise<Page> {
  const login = await browser.follow(start.url.toString(), atCallback);
  return browser.submit(login, "/login", { email, password }, atCallback);
}

async function tokensOf(config: oidc.Configuration, start: AuthorizationStart, page: Page) {
  expect(page.url.startsWith(REDIRECT_URI), page.html.slice(0, 500)).toBe(true);
  return exchange(config, start, page.url);
}

describe("single sign-on meets the MFA policy of the client and the person", () => {
  let idp: TestIdp;
  let web: oidc.Configuration;
  let strict: oidc.Configuration;
  const host = () => new URL(idp.issuer).host;

  beforeAll(async () => {
    idp = await startTestIdp({ now, env });
    for (const name of ["pam", "ben"]) await idp.admin.addUser({ email: `${name}@example.com`, password, emailVerified: true });
    await idp.admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
    await idp.admin.addClient({ id: "strict", public: true, firstParty: true, redirectUris: [REDIRECT_URI], requireMfa: true });
    web = await discover(idp.issuer, "web");
    strict = await discover(idp.issuer, "strict");
  });
  afterAll(async () => idp?.close());

  it("a password-only session at an ordinary client is asked to set up a second factor at a require_mfa client", async () => {
    const browser = new Browser();
    const first = await startAuthorization(web);
    const tokens = await tokensOf(web, first, await passwordStep(browser, first, "pam@example.com"));
    expect(decodeJwt(tokens.id_token!)).toMatchObject({ acr: `urn:${host()}:acr:1fa` });

    const start = await startAuthorization(strict);
    const asked = await browser.follow(start.url.toString(), atCallback);
    // Not handed a code: the enrolment page of the same person, no password asked.
    expect(asked.url).toMatch(/\/interaction\/[^/]+\/second-factor$/);
    expect(asked.html).not.toContain('name="password"');
    const secret = secretOf(asked);
    const codes = await browser.submit(asked, "/second-factor/enrol", { code: codeFor(secret) }, atCallback);
    expect(codes.status).toBe(200);
    const done = await browser.submit(codes, "/second-factor/continue", {}, atCallback);
    const stepped = await tokensOf(strict, start, done);
    expect(decodeJwt(stepped.id_token!)).toMatchObject({ sub: decodeJwt(tokens.id_token!).sub, amr: ["mfa", "otp", "pwd"], acr: `urn:${host()}:acr:mfa` });
    clockMs += STEP_MS;
  });

  it("a person who set up an app after a password-only session is asked for a code at the next authorization", async () => {
    const browser = new Browser();
    const first = await startAuthorization(web);
    const tokens = await tokensOf(web, first, await passwordStep(browser, first, "ben@example.com"));
    expect(decodeJwt(tokens.id_token!)).toMatchObject({ acr: `urn:${host()}:acr:1fa` });
    // Ben sets up an app in another browser (the require_mfa client asks him to).
    const elsewhere = new Browser();
    const enrolStart = await startAuthorization(strict);
    const enrolPage = await passwordStep(elsewhere, enrolStart, "ben@example.com");
    const secret = secretOf(enrolPage);
    const codes = await elsewhere.submit(enrolPage, "/second-factor/enrol", { code: codeFor(secret) }, atCallback);
    await tokensOf(strict, enrolStart, await elsewhere.submit(codes, "/second-factor/continue", {}, atCallback));
    clockMs += STEP_MS;

    const start = await startAuthorization(web);
    const asked = await browser.follow(start.url.toString(), atCallback);
    expect(asked.url).toMatch(/\/second-factor$/);
    expect(asked.html).toContain("/second-factor/totp");
    const done = await browser.submit(asked, "/second-factor/totp", { code: codeFor(secret) }, atCallback);
    const stepped = await tokensOf(web, start, done);
    expect(decodeJwt(stepped.id_token!)).toMatchObject({ sub: decodeJwt(tokens.id_token!).sub, amr: ["mfa", "otp", "pwd"], acr: `urn:${host()}:acr:mfa` });
    // Reached: the next authorization signs in without a prompt.
    const again = await startAuthorization(web);
    expect((await browser.follow(again.url.toString(), atCallback)).url).toContain(REDIRECT_URI);
  });
});
