// The second factor inside the login prompt, against a real server with openid-client as the
// application and a fixed clock for TOTP: setting up an app inside a sign-in (MFA=required, and a
// client added with --require-mfa), signing in with a code (each code once; one step either side
// accepted, two refused), recovery codes (once only, also under 20 concurrent uses), the amr/acr of
// the code and refresh grants' tokens (and the strict Convex verifier accepting them), step-up with
// acr_values asking only for the missing factor, and a different person finishing refused.
import * as OTPAuth from "otpauth";
import * as oidc from "openid-client";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { Browser, type Page } from "../support/browser.ts";
import { discover, exchange, startAuthorization, REDIRECT_URI, type AuthorizationStart } from "../support/oidc-flow.ts";
import { verifyConvexToken } from "../support/convex-verifier.ts";

const STEP_MS = 30_000;
// The middle of a 30-second step: codes of the steps around it are unambiguous.
let clockMs = Math.floor(Date.now() / STEP_MS) * STEP_MS + STEP_MS / 2;
const now = () => new Date(clockMs);
const codeFor = (secret: string, steps = 0) => OTPAuth.TOTP.generate({ secret: OTPAuth.Secret.fromBase32(secret), timestamp: clockMs + steps * STEP_MS });

const atCallback = (url: string) => url.startsWith(REDIRECT_URI);
const password = "correct horse battery";
const env = { SIGN_IN_LIMIT_PER_IP: "0", SIGN_IN_LIMIT_PER_ACCOUNT: "0", LOCKOUT_THRESHOLD: "100" };

/** Opens the authorization URL and signs in with a password: the page that follows (callback or second factor). */
async function passwordStep(browser: Browser, start: AuthorizationStart, email: string): Promise<Page> {
  const login = await browser.follow(start.url.toString(), atCallback);
  return browser.submit(login, "/login", { email, password }, atCallback);
}

const secretOf = (page: Page) => /id="totp-secret">([A-Z2-7 ]+)</.exec(page.html)![1]!.replace(/ /g, "");
const recoveryCodesOf = (page: Page) => [...page.html.matchAll(/<li><code>([a-z2-7-]+)<\/code><\/li>/g)].map((match) => match[1]!);

async function tokensOf(config: oidc.Configuration, start: AuthorizationStart, page: Page) {
  expect(page.url.startsWith(REDIRECT_URI), page.html.slice(0, 500)).toBe(true);
  return exchange(config, start, page.url);
}

/** Posts a password sign-in to the interaction a page belongs to (with that page's CSRF token), whatever step it shows. */
async function postPassword(browser: Browser, page: Page, email: string): Promise<Page> {
  const uid = /\/interaction\/([^/]+)\//.exec(page.html)![1]!;
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.html)![1]!;
  return browser.follow(new URL(`/interaction/${uid}/login`, page.url).toString(), atCallback, { form: { email, password, _csrf: csrf } });
}

/** Checks the strict Convex verifier (customJwt and OIDC forms) accepts a token of the IdP. */
async function convexAccepts(idp: TestIdp, token: string) {
  const jwks = `${idp.issuer}/jwks`;
  const custom = await verifyConvexToken(token, [{ type: "customJwt", issuer: idp.issuer, jwks, algorithm: "RS256", applicationID: "web" }]);
  const standard = await verifyConvexToken(token, [{ domain: idp.issuer, applicationID: "web" }]);
  return { custom, standard };
}

describe("MFA=required: a person without a second factor sets up an app inside the sign-in", () => {
  let idp: TestIdp;
  let web: oidc.Configuration;
  beforeAll(async () => {
    idp = await startTestIdp({ now, env: { ...env, MFA: "required" } });
    await idp.admin.addUser({ email: "rita@example.com", password, emailVerified: true });
    await idp.admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
    web = await discover(idp.issuer, "web");
  });
  afterAll(async () => idp?.close());

  it("shows the QR code and key, refuses a wrong code, shows ten recovery codes once, then finishes with pwd+otp", async () => {
    const browser = new Browser();
    const start = await startAuthorization(web);
    const enrol = await passwordStep(browser, start, "rita@example.com");
    expect(enrol.url).toMatch(/\/interaction\/[^/]+\/second-factor$/);
    // No session cookie and no code yet.
    expect(browser.cookieNames()).not.toContain("_session");
    expect(enrol.html).toContain("<svg role=\"img\"");
    const secret = secretOf(enrol);
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    const wrong = await browser.submit(enrol, "/second-factor/enrol", { code: String((Number(codeFor(secret)) + 1) % 1_000_000).padStart(6, "0") }, atCallback);
    expect(wrong.status).toBe(401);
    expect(secretOf(wrong)).toBe(secret); // the same app, not a new one
    const codes = await browser.submit(wrong, "/second-factor/enrol", { code: codeFor(secret) }, atCallback);
    expect(codes.status).toBe(200);
    const recovery = recoveryCodesOf(codes);
    expect(recovery).toHaveLength(10);
    expect(new Set(recovery).size).toBe(10);
    const done = await browser.submit(codes, "/second-factor/continue", {}, atCallback);
    const tokens = await tokensOf(web, start, done);
    const host = new URL(idp.issuer).host;
    expect(decodeJwt(tokens.id_token!)).toMatchObject({ amr: ["mfa", "otp", "pwd"], acr: `urn:${host}:acr:mfa` });
    const refreshed = await oidc.refreshTokenGrant(web, tokens.refresh_token!);
    expect(decodeJwt(refreshed.id_token!)).toMatchObject({ amr: ["mfa", "otp", "pwd"], acr: `urn:${host}:acr:mfa` });
    for (const token of [tokens.id_token!, refreshed.id_token!]) {
      const { custom, standard } = await convexAccepts(idp, token);
      expect(custom.amr).toEqual(["mfa", "otp", "pwd"]);
      // The OIDC form accepts it too, but hands functions no amr/acr (convex-auth-rules.md): requireMfa needs customJwt.
      expect(standard.subject).toBe(custom.subject);
    }
    // The seed is sealed at rest, the recovery codes only hashed.
    const { rows } = await idp.database.db.query<{ sealed: Buffer }>("SELECT sealed_secret AS sealed FROM totp_factors");
    expect(rows[0]!.sealed.toString("latin1")).not.toContain(secret);
    const hashes = await idp.database.db.query<{ code_hash: Buffer }>("SELECT code_hash FROM recovery_codes");
    expect(hashes.rows).toHaveLength(10);
    expect(hashes.rows.map((row) => row.code_hash.toString("latin1")).join("")).not.toContain(recovery[0]!.replace(/-/g, ""));
    // Audited.
    const events = (await idp.database.db.query<{ event: string }>("SELECT event FROM audit_events ORDER BY id")).rows.map((row) => row.event);
    expect(events).toContain("mfa.totp_enrolled");
  });
});

describe("MFA=optional: TOTP and recovery codes as the second factor", () => {
  let idp: TestIdp;
  let web: oidc.Configuration;
  let strict: oidc.Configuration;
  const secrets = new Map<string, string>();
  const recovery = new Map<string, string[]>();
  const host = () => new URL(idp.issuer).host;

  /** Sets up an app for `email` by signing in to the client that requires a second factor. */
  async function enrol(email: string): Promise<void> {
    const browser = new Browser();
    const start = await startAuthorization(strict);
    const page = await passwordStep(browser, start, email);
    const secret = secretOf(page);
    const codes = await browser.submit(page, "/second-factor/enrol", { code: codeFor(secret) }, atCallback);
    recovery.set(email, recoveryCodesOf(codes));
    secrets.set(email, secret);
    await tokensOf(strict, start, await browser.submit(codes, "/second-factor/continue", {}, atCallback));
    clockMs += STEP_MS; // the enrolment's code is used: later sign-ins come a step later
  }

  beforeAll(async () => {
    idp = await startTestIdp({ now, env });
    for (const name of ["tom", "ruth", "cora", "stella", "nina"]) await idp.admin.addUser({ email: `${name}@example.com`, password, emailVerified: true });
    await idp.admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
    await idp.admin.addClient({ id: "strict", public: true, firstParty: true, redirectUris: [REDIRECT_URI], requireMfa: true });
    web = await discover(idp.issuer, "web");
    strict = await discover(idp.issuer, "strict");
    for (const name of ["tom", "ruth", "cora"]) await enrol(`${name}@example.com`);
  }, 60_000);
  afterAll(async () => idp?.close());

  it("asks a person with an app for a code after the password; the same code twice: the second refused", async () => {
    const code = codeFor(secrets.get("tom@example.com")!);
    const first = new Browser();
    const start = await startAuthorization(web);
    const asked = await passwordStep(first, start, "tom@example.com");
    expect(asked.url).toMatch(/\/second-factor$/);
    expect(asked.html).toContain("/second-factor/totp");
    const tokens = await tokensOf(web, start, await first.submit(asked, "/second-factor/totp", { code }, atCallback));
    expect(decodeJwt(tokens.id_token!)).toMatchObject({ amr: ["mfa", "otp", "pwd"], acr: `urn:${host()}:acr:mfa` });

    const second = new Browser();
    const again = await passwordStep(second, await startAuthorization(web), "tom@example.com");
    const refused = await second.submit(again, "/second-factor/totp", { code }, atCallback);
    expect(refused.status).toBe(401);
    expect(refused.url).not.toContain(REDIRECT_URI);
    expect(second.cookieNames()).not.toContain("_session");
  });

  it("accepts a code one step early or late, and refuses two steps either way", async () => {
    const secret = secrets.get("ruth@example.com")!;
    const attempt = async (steps: number) => {
      const browser = new Browser();
      const start = await startAuthorization(web);
      const asked = await passwordStep(browser, start, "ruth@example.com");
      return browser.submit(asked, "/second-factor/totp", { code: codeFor(secret, steps) }, atCallback);
    };
    expect((await attempt(+1)).url).toContain(REDIRECT_URI);
    clockMs += 3 * STEP_MS; // past the step just used
    expect((await attempt(-1)).url).toContain(REDIRECT_URI);
    clockMs += 3 * STEP_MS;
    expect((await attempt(+2)).status).toBe(401);
    expect((await attempt(-2)).status).toBe(401);
    expect((await attempt(0)).url).toContain(REDIRECT_URI);
  });

  it("accepts a recovery code once", async () => {
    const code = recovery.get("cora@example.com")![0]!;
    const browser = new Browser();
    const start = await startAuthorization(web);
    const asked = await passwordStep(browser, start, "cora@example.com");
    const form = await browser.follow(`${asked.url}?method=recovery`);
    const tokens = await tokensOf(web, start, await browser.submit(form, "/second-factor/recovery", { recovery_code: code.toUpperCase() }, atCallback));
    expect(decodeJwt(tokens.id_token!)).toMatchObject({ amr: ["mfa", "otp", "pwd"] });

    const other = new Browser();
    const again = await passwordStep(other, await startAuthorization(web), "cora@example.com");
    const refused = await other.submit(await other.follow(`${again.url}?method=recovery`), "/second-factor/recovery", { recovery_code: code }, atCallback);
    expect(refused.status).toBe(401);
  });

  it("lets exactly one of 20 concurrent sign-ins use one recovery code", async () => {
    const code = recovery.get("cora@example.com")![1]!;
    const waiting = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const browser = new Browser();
        const asked = await passwordStep(browser, await startAuthorization(web), "cora@example.com");
        return { browser, form: await browser.follow(`${asked.url}?method=recovery`) };
      }),
    );
    const results = await Promise.all(waiting.map(({ browser, form }) => browser.submit(form, "/second-factor/recovery", { recovery_code: code }, atCallback)));
    expect(results.filter((page) => page.url.startsWith(REDIRECT_URI))).toHaveLength(1);
    expect(results.filter((page) => page.status === 401)).toHaveLength(19);
  });

  it("step-up: acr_values=mfa after a password-only session asks the same person only for the second factor", async () => {
    const browser = new Browser();
    // Stella signs in with her password alone (no factor yet): 1fa.
    const first = await startAuthorization(web);
    const tokens = await tokensOf(web, first, await passwordStep(browser, first, "stella@example.com"));
    expect(decodeJwt(tokens.id_token!)).toMatchObject({ amr: ["pwd"], acr: `urn:${host()}:acr:1fa` });
    // She sets up an app elsewhere (another browser).
    await enrol("stella@example.com");
    // The application asks for mfa: no password page, the code form at once.
    const start = await startAuthorization(web, { acr_values: `urn:${host()}:acr:mfa` });
    const asked = await browser.follow(start.url.toString(), atCallback);
    expect(asked.url).toMatch(/\/second-factor$/);
    expect(asked.html).not.toContain('name="password"');
    // Nobody else can finish it: a password sign-in as another person is refused.
    const other = await postPassword(browser, asked, "nina@example.com");
    expect(other.status).toBe(403);
    const done = await browser.submit(await browser.follow(asked.url), "/second-factor/totp", { code: codeFor(secrets.get("stella@example.com")!) }, atCallback);
    const stepped = await tokensOf(web, start, done);
    const claims = decodeJwt(stepped.id_token!);
    expect(claims).toMatchObject({ sub: decodeJwt(tokens.id_token!).sub, amr: ["mfa", "otp", "pwd"], acr: `urn:${host()}:acr:mfa` });
    const refreshed = await oidc.refreshTokenGrant(web, stepped.refresh_token!);
    expect(decodeJwt(refreshed.id_token!)).toMatchObject({ amr: ["mfa", "otp", "pwd"], acr: `urn:${host()}:acr:mfa` });
    await convexAccepts(idp, refreshed.id_token!);
    // Reached: the same request now signs in without a prompt.
    const again = await startAuthorization(web, { acr_values: `urn:${host()}:acr:mfa` });
    expect((await browser.follow(again.url.toString(), atCallback)).url).toContain(REDIRECT_URI);
  });

  it("refuses a different person finishing a sign-in held for its second factor", async () => {
    const browser = new Browser();
    const start = await startAuthorization(web);
    const asked = await passwordStep(browser, start, "tom@example.com");
    expect(asked.url).toMatch(/\/second-factor$/);
    const login = await browser.follow(asked.url.replace(/\/second-factor$/, ""));
    // Nina has no factor: her password alone would finish a sign-in of her own.
    const other = await browser.submit(login, "/login", { email: "nina@example.com", password }, atCallback);
    expect(other.status).toBe(403);
    expect(browser.cookieNames()).not.toContain("_session");
  });

  it("max_age past: a fresh sign-in, password and code again", async () => {
    const browser = new Browser();
    const start = await startAuthorization(web);
    const asked = await passwordStep(browser, start, "tom@example.com");
    clockMs += STEP_MS;
    await tokensOf(web, start, await browser.submit(asked, "/second-factor/totp", { code: codeFor(secrets.get("tom@example.com")!) }, atCallback));
    const fresh = await startAuthorization(web, { max_age: "0" });
    const page = await browser.follow(fresh.url.toString(), atCallback);
    expect(page.html).toContain('name="password"');
  });
});

describe("failures of a second factor count towards the sign-in lockout", () => {
  let idp: TestIdp;
  let web: oidc.Configuration;
  beforeAll(async () => {
    idp = await startTestIdp({ now, env: { SIGN_IN_LIMIT_PER_IP: "0", LOCKOUT_THRESHOLD: "3", MFA: "required" } });
    await idp.admin.addUser({ email: "lou@example.com", password, emailVerified: true });
    await idp.admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
    web = await discover(idp.issuer, "web");
  });
  afterAll(async () => idp?.close());

  it("locks the email after three wrong codes: the code form and the password both answer 'locked'", async () => {
    const browser = new Browser();
    let page = await passwordStep(browser, await startAuthorization(web), "lou@example.com");
    const wrong = String((Number(codeFor(secretOf(page))) + 500_000) % 1_000_000).padStart(6, "0");
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      page = await browser.submit(page, "/second-factor/enrol", { code: wrong }, atCallback);
      statuses.push(page.status);
    }
    expect(statuses).toEqual([401, 401, 429]);
    // The right code now waits for the lock to end too.
    expect((await browser.submit(page, "/second-factor/enrol", { code: codeFor(secretOf(page)) }, atCallback)).status).toBe(429);
    const other = new Browser();
    const login = await other.follow((await startAuthorization(web)).url.toString(), atCallback);
    expect((await other.submit(login, "/login", { email: "lou@example.com", password }, atCallback)).status).toBe(429);
    const events = (await idp.database.db.query<{ event: string }>("SELECT event FROM audit_events WHERE event IN ('mfa.failed', 'account.locked') ORDER BY id")).rows.map((row) => row.event);
    expect(events).toEqual(["mfa.failed", "mfa.failed", "mfa.failed", "account.locked"]);
  });
});
