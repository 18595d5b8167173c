// Sign-in by a code by SMS, end to end: a listening IdP, real PostgreSQL, a local HTTP server in
// the Twilio API's shape that receives every message, openid-client as the relying party. Only a
// verified number of an enabled person gets a code; the answer is the same for any other; a
// number outside SMS_ALLOWED_COUNTRIES is refused before anything is queued.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as oidc from "openid-client";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { Browser, type Page } from "../support/browser.ts";
import { discover, exchange, startAuthorization, REDIRECT_URI } from "../support/oidc-flow.ts";
import { FakeTwilio } from "../support/sms.ts";

let twilio: FakeTwilio;
let idp: TestIdp;
let web: oidc.Configuration;

beforeAll(async () => {
  twilio = await FakeTwilio.start();
  idp = await startTestIdp({
    env: {
      SMS_TWILIO_ACCOUNT_SID: twilio.accountSid,
      SMS_TWILIO_AUTH_TOKEN: twilio.authToken,
      SMS_TWILIO_FROM: "MG0123456789abcdef0123456789abcdef",
      SMS_TWILIO_API_URL: twilio.url(),
      SMS_ALLOWED_COUNTRIES: "DE,GB",
      SIGN_IN_METHODS: "password,sms_code",
      MAIL_POLL_INTERVAL_MS: "50",
      SMS_CODE_LIMIT_PER_IP: "0",
      SIGN_IN_LIMIT_PER_IP: "0",
    },
  });
  await idp.admin.addClient({ id: "web", name: "Web App", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
  web = await discover(idp.issuer, "web", undefined);
});
afterAll(async () => {
  await idp?.close();
  await twilio?.stop();
});

const atCallback = (url: string) => url.startsWith(REDIRECT_URI);

async function smsPage(browser = new Browser()) {
  const start = await startAuthorization(web, { scope: "openid email phone" });
  const login = await browser.follow(start.url.toString());
  const uid = /\/interaction\/([A-Za-z0-9_-]+)\/login/.exec(login.html)![1]!;
  expect(login.html).toContain(`href="/interaction/${uid}/sms-code"`);
  const form = await browser.request(`${idp.baseUrl}/interaction/${uid}/sms-code`);
  expect(form.status).toBe(200);
  expect(form.html).toContain('autocomplete="tel"');
  return { browser, start, form, uid };
}

const queued = async (recipient: string) =>
  (await idp.database.db.query("SELECT 1 FROM mail_outbox WHERE channel = 'sms' AND recipient = $1", [recipient])).rows.length;

describe("sign-in with a code by SMS", () => {
  it("texts a code to the verified number and signs in with it, the number in the token under the phone scope", async () => {
    const user = await idp.admin.addUser({ email: "texter@example.com", password: "correct horse battery", phone: "+49 1512 3456789", phoneVerified: true });
    const attempt = await smsPage();
    const sent = await attempt.browser.submit(attempt.form, "/sms-code", { phone: "+49 (0)1512 345-6789".replace("(0)", "") });
    expect(sent.status).toBe(200);
    expect(sent.html).toContain("Check your phone");
    const message = await twilio.waitFor("+4915123456789");
    const code = /(\d{6}) is your/.exec(message.body)?.[1] ?? /#(\d{6})/.exec(message.body)![1]!;
    expect(message.body).toContain(`#${code}`);
    const done: Page = await attempt.browser.submit(sent, "/code", { code }, atCallback);
    expect(atCallback(done.url), done.html.slice(0, 400)).toBe(true);
    const claims = (await exchange(web, attempt.start, done.url)).claims()!;
    expect(claims).toMatchObject({ sub: user.id, phone_number: "+4915123456789", phone_number_verified: true });
  });

  it("answers an unverified or unknown number the same, texting nothing, and refuses a number of another country before anything is queued", async () => {
    await idp.admin.addUser({ email: "unverified@example.com", password: "correct horse battery", phone: "+447400123456" });
    const normalise = (page: Page, number: string) =>
      page.html.replace(/name="_csrf" value="[^"]*"/g, "").replace(/\/interaction\/[A-Za-z0-9_-]+/g, "/interaction/UID").replaceAll(number, "NUMBER");
    const browser = new Browser();
    const a = await smsPage(browser);
    const unverified = await browser.submit(a.form, "/sms-code", { phone: "+447400123456" });
    const b = await smsPage(browser);
    const unknown = await browser.submit(b.form, "/sms-code", { phone: "+447400123457" });
    expect(unverified.status, unverified.html.slice(0, 3000)).toBe(200);
    expect(normalise(unverified, "+447400123456")).toBe(normalise(unknown, "+447400123457"));
    expect(await queued("+447400123456")).toBe(0);

    const c = await smsPage(browser);
    const abroad = await browser.submit(c.form, "/sms-code", { phone: "+33 6 12 34 56 78" });
    expect(abroad.status).toBe(400);
    expect(abroad.html).toContain("cannot be sent to numbers of this country");
    const invalid = await browser.submit(abroad, "/sms-code", { phone: "12" });
    expect(invalid.status).toBe(400);
    expect(await queued("+33612345678")).toBe(0);
    expect(twilio.messages.some((message) => message.to !== "+4915123456789")).toBe(false);
  });

  it("counts wrong SMS codes toward the account's own lockout, which then stops password sign-in too", async () => {
    await idp.admin.addUser({ email: "guessed@example.com", password: "correct horse battery", phone: "+4915123456700", phoneVerified: true });
    const attempt = await smsPage();
    let page = await attempt.browser.submit(attempt.form, "/sms-code", { phone: "+4915123456700" });
    await twilio.waitFor("+4915123456700");
    for (let i = 0; i < 5; i++) page = await attempt.browser.submit(page, "/code", { code: "000000" }, atCallback);
    expect(page.status).toBe(429);
    const browser = new Browser();
    const start = await startAuthorization(web);
    const login = await browser.follow(start.url.toString());
    const locked = await browser.submit(login, "/login", { email: "guessed@example.com", password: "correct horse battery" }, atCallback);
    expect(locked.status).toBe(429);
  });
});
