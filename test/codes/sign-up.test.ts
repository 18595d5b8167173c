// Sign-up end to end (SIGN_UP=open): a listening IdP, real PostgreSQL, a real SMTP server in the
// process, openid-client as the relying party. Email, then its code or link, then a password: the
// account exists only then, verified, and the person is signed in to the application. An address
// that has an account gets the same page and a "you already have an account" mail instead.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as oidc from "openid-client";
import type { ParsedMail } from "mailparser";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { Browser, type Page } from "../support/browser.ts";
import { discover, exchange, startAuthorization, REDIRECT_URI, type AuthorizationStart } from "../support/oidc-flow.ts";
import { TestMailServer } from "../support/smtp.ts";
import { createWebhookStore } from "../../idp/store/webhooks.ts";

let smtp: TestMailServer;
let idp: TestIdp;
let web: oidc.Configuration;
let count = 0;
const PASSWORD = "violet tractor sandwich";

const env = (smtpUrl: string, extra: Record<string, string> = {}) => ({
  SMTP_URL: smtpUrl,
  BRAND_NAME: "Acme",
  MAIL_POLL_INTERVAL_MS: "100",
  SIGN_UP: "open",
  SIGN_IN_LIMIT_PER_IP: "0",
  EMAIL_CODE_LIMIT_PER_IP: "0",
  SIGN_UP_LIMIT_PER_IP: "0",
  // The form's minimum age has its own test below.
  SIGN_UP_MIN_FORM_SECONDS: "0",
  ...extra,
});

beforeAll(async () => {
  smtp = await TestMailServer.start();
  idp = await startTestIdp({ env: env(smtp.url()) });
  await idp.admin.addClient({ id: "web", name: "Web App", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
  web = await discover(idp.issuer, "web");
  // An endpoint for user.created (never reachable: what matters is what is queued, see test/webhooks/).
  await createWebhookStore(idp.database.db).addEndpoint({ id: "ep_signup", url: "http://127.0.0.1:9/hook", events: ["user.created"], secret: Buffer.from("unused") });
});
afterAll(async () => {
  await idp?.close();
  await smtp?.stop();
});

const atCallback = (url: string) => url.startsWith(REDIRECT_URI);
const codeOf = (mail: ParsedMail) => /^\s+(\d{6})$/m.exec(mail.text ?? "")![1]!;
const linkOf = (mail: ParsedMail) => /(http:\/\/[^\s]+\/email-link\/[A-Za-z0-9_-]{43})/.exec(mail.text ?? "")![1]!;
const newEmail = () => `newcomer${++count}@example.com`;

type SignUpStart = { browser: Browser; start: AuthorizationStart; form: Page; uid: string };

/** From the application's sign-in page to "Create an account". */
async function openSignUp(browser = new Browser(), target = idp): Promise<SignUpStart> {
  const config = target === idp ? web : await discover(target.issuer, "web");
  const start = await startAuthorization(config);
  const login = await browser.follow(start.url.toString());
  const uid = /\/interaction\/([A-Za-z0-9_-]+)\/login/.exec(login.html)![1]!;
  expect(login.html).toContain(`href="/interaction/${uid}/sign-up"`);
  const form = await browser.request(`${target.baseUrl}/interaction/${uid}/sign-up`);
  expect(form.status).toBe(200);
  return { browser, start, form, uid };
}

async function userRow(email: string) {
  const { rows } = await idp.database.db.query<{ id: string; email_verified: boolean; password_hash: string | null }>(
    "SELECT id, email_verified, password_hash FROM users WHERE lower(email) = lower($1)",
    [email],
  );
  return rows[0];
}

describe("sign-up", () => {
  it("walks from Create an account through the code and the password into the application, verified", async () => {
    const email = newEmail();
    const attempt = await openSignUp();
    const sent = await attempt.browser.submit(attempt.form, "/sign-up", { email });
    expect(sent.status).toBe(200);
    expect(sent.html).toContain("Check your email");
    expect(await userRow(email)).toBeUndefined(); // nothing exists until the address is confirmed

    const [mail] = await smtp.waitFor(email);
    const code = codeOf(mail!);
    expect(mail!.subject).toBe(`${code} is your Acme confirmation code`);
    const wrong = await attempt.browser.submit(sent, "/sign-up/code", { code: code === "000000" ? "111111" : "000000" });
    expect(wrong.status).toBe(400);
    const choose = await attempt.browser.submit(wrong, "/sign-up/code", { code });
    expect(choose.status).toBe(200);
    expect(choose.html).toContain("Choose a password");

    const weak = await attempt.browser.submit(choose, "/sign-up/password", { password: "short", repeat: "short" });
    expect(weak.status).toBe(400);
    expect(await userRow(email)).toBeUndefined();
    const done = await attempt.browser.submit(weak, "/sign-up/password", { password: PASSWORD, repeat: PASSWORD }, atCallback);
    expect(atCallback(done.url), done.html.slice(0, 500)).toBe(true);
    const tokens = await exchange(web, attempt.start, done.url);
    const user = await userRow(email);
    expect(user).toMatchObject({ email_verified: true });
    expect(tokens.claims()).toMatchObject({ sub: user!.id, email, email_verified: true });
    // The account's user.created webhook was queued with it.
    const queued = await idp.database.db.query<{ event_type: string; data: { id: string; email: string; email_verified: boolean } }>(
      "SELECT event_type, (body::jsonb)->'data' AS data FROM webhook_deliveries WHERE user_id = $1",
      [user!.id],
    );
    expect(queued.rows).toEqual([{ event_type: "user.created", data: expect.objectContaining({ id: user!.id, email, email_verified: true }) }]);

    // The confirmation is used: posting the password again makes nothing.
    const again = await attempt.browser.submit(choose, "/sign-up/password", { password: PASSWORD, repeat: PASSWORD }, atCallback);
    expect(again.status).toBe(400);
  });

  it("answers an address that has an account with the same page, and mails it a sign-in hint instead of a code", async () => {
    const taken = newEmail();
    await idp.admin.addUser({ email: taken, password: PASSWORD });
    const free = newEmail();
    const browser = new Browser();
    const a = await openSignUp(browser);
    const knownPage = await browser.submit(a.form, "/sign-up", { email: taken });
    const b = await openSignUp(browser);
    const freePage = await browser.submit(b.form, "/sign-up", { email: free });
    const normalise = (page: Page, email: string) =>
      page.html.replace(/name="(_csrf|form_stamp)" value="[^"]*"/g, "").replace(/\/interaction\/[A-Za-z0-9_-]+/g, "/interaction/UID").replaceAll(email, "EMAIL");
    expect(knownPage.status).toBe(freePage.status);
    expect(normalise(knownPage, taken)).toBe(normalise(freePage, free));
    const [existing] = await smtp.waitFor(taken);
    expect(existing!.subject).toBe("You already have an account with Acme");
    expect(existing!.text).not.toMatch(/\b\d{6}\b/);
    await smtp.waitFor(free);
    const { rows } = await idp.database.db.query("SELECT 1 FROM one_time_codes WHERE identifier = $1", [taken]);
    expect(rows).toHaveLength(0);
  });

  it("confirms by the link: in the same browser after a POST, in another with the confirmation code shown here", async () => {
    const email = newEmail();
    const attempt = await openSignUp();
    const sent = await attempt.browser.submit(attempt.form, "/sign-up", { email });
    const link = linkOf((await smtp.waitFor(email))[0]!);
    const landing = await attempt.browser.request(link);
    expect(landing.html).toContain(`action="/interaction/${attempt.uid}/sign-up/link"`);
    const choose = await attempt.browser.submit(landing, "/sign-up/link");
    expect(choose.html).toContain("Choose a password");

    const other = newEmail();
    const second = await openSignUp();
    const secondSent = await second.browser.submit(second.form, "/sign-up", { email: other });
    const confirmation = /id="confirmation-code">(\d{3}) (\d{3})</.exec(secondSent.html)!.slice(1).join("");
    const phone = new Browser();
    const otherPage = await phone.request(linkOf((await smtp.waitFor(other))[0]!));
    expect((await phone.submit(otherPage, "/email-link/", { confirmation })).status).toBe(200);
    const continued = await second.browser.submit(secondSent, "/sign-up/continue");
    expect(continued.html).toContain("Choose a password");
    const done = await second.browser.submit(continued, "/sign-up/password", { password: PASSWORD, repeat: PASSWORD }, atCallback);
    expect(atCallback(done.url)).toBe(true);
    void sent;
  });

  it("refuses a password post from a browser that confirmed nothing", async () => {
    const email = newEmail();
    const attempt = await openSignUp();
    const sent = await attempt.browser.submit(attempt.form, "/sign-up", { email });
    await smtp.waitFor(email);
    // The form of the password page, posted without a confirmation: the email page again.
    const forged = await attempt.browser.request(`${idp.baseUrl}/interaction/${attempt.uid}/sign-up/password`, {
      form: { _csrf: /name="_csrf" value="([^"]*)"/.exec(sent.html)![1]!, email, password: PASSWORD, repeat: PASSWORD },
    });
    expect(forged.status).toBe(400);
    expect(await userRow(email)).toBeUndefined();
  });
});

describe("sign-up settings", () => {
  it("offers no sign-up by default", async () => {
    const closed = await startTestIdp({ env: { SMTP_URL: smtp.url() } });
    try {
      await closed.admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
      const start = await startAuthorization(await discover(closed.issuer, "web"));
      const browser = new Browser();
      const login = await browser.follow(start.url.toString());
      const uid = /\/interaction\/([A-Za-z0-9_-]+)\/login/.exec(login.html)![1]!;
      expect(login.html).not.toContain("/sign-up");
      expect((await browser.request(`${closed.baseUrl}/interaction/${uid}/sign-up`)).status).toBe(404);
    } finally {
      await closed.close();
    }
  });

  it("refuses a form sent too fast, a disposable domain, and answers a filled honeypot as if accepted, sending nothing", async () => {
    let offsetMs = 0;
    const guarded = await startTestIdp({ now: () => new Date(Date.now() + offsetMs), env: env(smtp.url(), { SIGN_UP_MIN_FORM_SECONDS: "2" }) });
    try {
      await guarded.admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
      const attempt = await openSignUp(new Browser(), guarded);
      expect(attempt.form.html).toContain('name="form_stamp"');
      const fast = await attempt.browser.submit(attempt.form, "/sign-up", { email: "quick@example.com" });
      expect(fast.status).toBe(400);
      expect(fast.html).toContain('aria-invalid="true"');
      offsetMs = 3000;
      const disposable = await attempt.browser.submit(fast, "/sign-up", { email: "someone@mailinator.com" });
      expect(disposable.status).toBe(400);
      expect(disposable.html).toContain("mailinator.com");
      const bot = newEmail();
      offsetMs += 3000;
      const trapped = await attempt.browser.submit(disposable, "/sign-up", { email: bot, website: "https://spam.example" });
      expect(trapped.status).toBe(200);
      expect(trapped.html).toContain("Check your email");
      const person = newEmail();
      offsetMs += 3000;
      const accepted = await attempt.browser.submit(disposable, "/sign-up", { email: person });
      expect(accepted.status).toBe(200);
      await smtp.waitFor(person);
      expect(smtp.to(bot)).toHaveLength(0);
    } finally {
      await guarded.close();
    }
  });

  it("takes only the domains of SIGN_UP_EMAIL_DOMAINS", async () => {
    const limited = await startTestIdp({ env: env(smtp.url(), { SIGN_UP_EMAIL_DOMAINS: "acme.example" }) });
    try {
      await limited.admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
      const attempt = await openSignUp(new Browser(), limited);
      const refused = await attempt.browser.submit(attempt.form, "/sign-up", { email: "someone@elsewhere.example" });
      expect(refused.status).toBe(400);
      expect(refused.html).toContain("Accounts with this email domain cannot be created here");
      const accepted = await attempt.browser.submit(refused, "/sign-up", { email: "someone@acme.example" });
      expect(accepted.status).toBe(200);
    } finally {
      await limited.close();
    }
  });
});
