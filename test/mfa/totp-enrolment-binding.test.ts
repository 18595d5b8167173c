// A TOTP key being set up belongs to the page that showed it, against a real server (openid-client
// as the application, a fixed clock): a key shown in a sign-in abandoned by whoever had the password
// is never shown to the person later (a new key for every enrolment), an unconfirmed key expires
// after ten minutes, and the sign-in's set-up step confirms nothing once the person has a passkey.
import * as OTPAuth from "otpauth";
import type * as oidc from "openid-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { Browser, type Page } from "../support/browser.ts";
import { discover, startAuthorization, REDIRECT_URI } from "../support/oidc-flow.ts";

const STEP_MS = 30_000;
let clockMs = Math.floor(Date.now() / STEP_MS) * STEP_MS + STEP_MS / 2;
const now = () => new Date(clockMs);
const codeFor = (secret: string) => OTPAuth.TOTP.generate({ secret: OTPAuth.Secret.fromBase32(secret), timestamp: clockMs });
const atCallback = (url: string) => url.startsWith(REDIRECT_URI);
const password = "correct horse battery";
const env = { SIGN_IN_LIMIT_PER_IP: "0", SIGN_IN_LIMIT_PER_ACCOUNT: "0", LOCKOUT_THRESHOLD: "100" };
const secretOf = (page: Page) => /id="totp-secret">([A-Z2-7 ]+)</.exec(page.html)![1]!.replace(/ /g, "");
const recoveryCodesShown = (page: Page) => page.html.includes('id="recovery-codes"');

describe("a TOTP key being set up is bound to the page that showed it", () => {
  let idp: TestIdp;
  let strict: oidc.Configuration;

  /** The attacker: the password alone, at the client that requires a second factor, reaches the set-up page. */
  async function enrolmentPageOf(email: string): Promise<{ browser: Browser; page: Page }> {
    const browser = new Browser();
    const start = await startAuthorization(strict);
    const login = await browser.follow(start.url.toString(), atCallback);
    const page = await browser.submit(login, "/login", { email, password }, atCallback);
    expect(page.url).toMatch(/\/second-factor$/);
    return { browser, page };
  }

  const confirmed = async (email: string) =>
    (await idp.database.db.query("SELECT 1 FROM totp_factors t JOIN users u ON u.id = t.user_id WHERE u.email = $1 AND t.confirmed_at IS NOT NULL", [email])).rowCount;

  beforeAll(async () => {
    idp = await startTestIdp({ now, env });
    for (const name of ["vera", "owen", "pia"]) await idp.admin.addUser({ email: `${name}@example.com`, password, emailVerified: true });
    await idp.admin.addClient({ id: "strict", public: true, firstParty: true, redirectUris: [REDIRECT_URI], requireMfa: true });
    strict = await discover(idp.issuer, "strict");
  });
  afterAll(async () => idp?.close());

  it("shows the person a new key on /account, never the one an abandoned sign-in showed; a wrong code keeps the page's key", async () => {
    const attacker = await enrolmentPageOf("vera@example.com");
    const stolen = secretOf(attacker.page);
    // A reload of the sign-in's set-up page is a new enrolment too.
    expect(secretOf(await attacker.browser.follow(attacker.page.url))).not.toBe(stolen);

    const victim = new Browser();
    const atAccount = (url: string) => new URL(url).pathname === "/account";
    const login = await victim.follow(`${idp.baseUrl}/account`, atAccount);
    await victim.submit(login, "/login", { email: "vera@example.com", password }, atAccount);
    const setUp = await victim.follow(`${idp.baseUrl}/account/totp`);
    const own = secretOf(setUp);
    expect(own).not.toBe(stolen);
    const wrong = await victim.submit(setUp, "/account/totp", { code: String((Number(codeFor(own)) + 1) % 1_000_000).padStart(6, "0") });
    expect(wrong.status).toBe(400);
    expect(secretOf(wrong)).toBe(own);
    const done = await victim.submit(wrong, "/account/totp", { code: codeFor(own) });
    expect(recoveryCodesShown(done)).toBe(true);
    clockMs += STEP_MS;
  });

  it("lets an unconfirmed key expire after ten minutes", async () => {
    const { browser, page } = await enrolmentPageOf("owen@example.com");
    const secret = secretOf(page);
    // Nine minutes on, the password again in the same sign-in keeps it held (the set-up page is not reloaded).
    clockMs += 9 * 60_000;
    const uid = /\/interaction\/([^/]+)\//.exec(page.url)![1]!;
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.html)![1]!;
    const held = await browser.follow(`${idp.baseUrl}/interaction/${uid}/login`, (url) => url.includes("/second-factor"), { form: { email: "owen@example.com", password, _csrf: csrf } });
    expect(held.url).toMatch(/\/second-factor$/);
    clockMs += 2 * 60_000;
    const late = await browser.submit(page, "/second-factor/enrol", { code: codeFor(secret) }, atCallback);
    expect(recoveryCodesShown(late)).toBe(false);
    expect(late.status).toBe(401);
    expect(await confirmed("owen@example.com")).toBe(0);
  });

  it("confirms nothing in a sign-in once the person has a passkey", async () => {
    const { browser, page } = await enrolmentPageOf("pia@example.com");
    const secret = secretOf(page);
    // Pia adds a passkey (on her account page; written here as the passkeys module stores one).
    await idp.database.db.query(
      `INSERT INTO webauthn_credentials (id, user_id, public_key, rp_id, aaguid, device_type, name, created_at)
       SELECT 'pia-key', id, '\\x00', $2, '00000000-0000-0000-0000-000000000000', 'singleDevice', 'Laptop', $3 FROM users WHERE email = $1`,
      ["pia@example.com", idp.config.webauthnRpId, now()],
    );
    const refused = await browser.submit(page, "/second-factor/enrol", { code: codeFor(secret) }, atCallback);
    expect(recoveryCodesShown(refused)).toBe(false);
    expect(refused.url).toMatch(/\/second-factor$/);
    expect(await confirmed("pia@example.com")).toBe(0);
  });
});
