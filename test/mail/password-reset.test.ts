// Password reset end to end, on a listening IdP with real PostgreSQL and a real SMTP server in the
// process (STARTTLS, AUTH) that parses every mail: from "Forgot password?" on the sign-in page to
// the mail, the link, the new password and back to the application; openid-client as the relying
// party. Also: a GET of the link uses nothing, a link works once, expires and is superseded, the
// policy holds, the old refresh token gets invalid_grant, failures count toward the lockout, one
// link a minute, and known and unknown emails get byte-identical answers.
import { translate } from "../../idp/pages/i18n.ts";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import * as oidc from "openid-client";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { Browser, findForm, type Page } from "../support/browser.ts";
import { discover, exchange, signIn, startAuthorization, REDIRECT_URI } from "../support/oidc-flow.ts";
import { resetToken, TestMailServer } from "../support/smtp.ts";
import { FormClient } from "../abuse/helpers.ts";
import { captureLogs } from "../support/log-capture.ts";
import { loggerOptions } from "../../idp/logging.ts";
import { hashToken } from "../../idp/accounts/password-reset.ts";

const alice = { email: "alice@example.com", password: "correct horse battery", name: "Alice Example" };
const NEW_PASSWORD = "violet tractor sandwich";

let smtp: TestMailServer;
let idp: TestIdp;
let web: oidc.Configuration;
let clockOffsetMs = 0;
let userCount = 0;

beforeAll(async () => {
  smtp = await TestMailServer.start();
  idp = await startTestIdp({
    now: () => new Date(Date.now() + clockOffsetMs),
    env: {
      SMTP_URL: smtp.url(),
      MAIL_FROM: "Acme Accounts <accounts@acme.example>",
      BRAND_NAME: "Acme",
      BRAND_COLOR: "#e4572e",
      MAIL_POLL_INTERVAL_MS: "100",
      LOCKOUT_THRESHOLD: "3",
      SIGN_IN_DELAY_MAX_MS: "0",
      // Every request here comes from 127.0.0.1; the limits have their own test.
      PASSWORD_RESET_LIMIT_PER_IP: "0",
      SIGN_IN_LIMIT_PER_IP: "0",
    },
  });
  await idp.admin.addClient({ id: "web", name: "Web App", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
  web = await discover(idp.issuer, "web");
});
afterAll(async () => {
  await idp?.close();
  await smtp?.stop();
});
beforeEach(() => {
  clockOffsetMs = 0;
});

/** A fresh user for each test, so cooldowns, locks and mails never cross tests. */
async function newUser(password = alice.password) {
  const email = `person${++userCount}@example.com`;
  const user = await idp.admin.addUser({ email, password, name: alice.name });
  return { id: user.id, email, password };
}

async function signedIn(credentials: { email: string; password: string }, browser = new Browser()) {
  const start = await startAuthorization(web);
  const page = await signIn(browser, start, credentials);
  expect(page.url.startsWith(REDIRECT_URI), page.html.slice(0, 500)).toBe(true);
  return { browser, tokens: await exchange(web, start, page.url) };
}

/** Asks for a link on the standalone request page. */
async function requestReset(email: string, browser = new Browser(), headers: Record<string, string> = {}): Promise<Page> {
  const page = await browser.request(`${idp.baseUrl}/reset`, { headers });
  expect(page.status).toBe(200);
  return browser.submit(page, "/reset", { email });
}

async function expectOAuthError(promise: Promise<unknown>, error: string) {
  const failure = await promise.then(
    () => expect.fail(`expected the request to fail with ${error}`),
    (reason: { error?: string; cause?: { parameters?: { error?: string } }[] }) => reason,
  );
  expect(failure.error ?? failure.cause?.[0]?.parameters?.error).toBe(error);
}

async function tokenRow(token: string) {
  const { rows } = await idp.database.db.query<{ consumed_at: Date | null; revoked_at: Date | null }>(
    "SELECT consumed_at, revoked_at FROM one_time_tokens WHERE token_hash = $1",
    [hashToken(token)],
  );
  return rows[0];
}

const withoutCsrf = (html: string) => html.replace(/name="_csrf" value="[^"]*"/g, 'name="_csrf" value=""');

describe("password reset from the sign-in page", () => {
  it("walks from Forgot password? through the mail and the new password back into the application, and signs the person out everywhere", async () => {
    const person = await newUser();
    const before = await signedIn(person);

    // A new sign-in in another browser: its page offers "Forgot password?".
    const browser = new Browser();
    const start = await startAuthorization(web);
    const login = await browser.follow(start.url.toString());
    const forgot = /<a href="([^"]*)">Forgot password\?<\/a>/.exec(login.html);
    expect(forgot, login.html).not.toBeNull();
    const uid = /\/interaction\/([A-Za-z0-9_-]+)\/login/.exec(login.html)![1]!;
    const requestPage = await browser.request(new URL(forgot![1]!.replace(/&amp;/g, "&"), idp.baseUrl).toString());
    expect(requestPage.status).toBe(200);
    expect(requestPage.html).toContain(`href="/interaction/${uid}"`); // back to sign in

    const sent = await browser.submit(requestPage, "/reset", { email: person.email.toUpperCase() });
    expect(sent.status).toBe(200);
    expect(sent.html).toContain("Check your email");

    const [mail] = await smtp.waitFor(person.email);
    expect(mail!.secure).toBe(true); // STARTTLS
    expect(mail!.user).toBe("idp"); // AUTH from SMTP_URL
    expect(mail!.from?.value).toEqual([{ address: "accounts@acme.example", name: "Acme Accounts" }]);
    expect(mail!.subject).toBe("Reset your Acme password");
    expect(mail!.headers.get("auto-submitted")).toBe("auto-generated");
    const token = resetToken(mail!);
    const link = `${idp.baseUrl}/reset/${token}`;
    expect(mail!.text).toContain(link);
    expect(mail!.text).toContain("The link works once, for 15 minutes.");
    expect(mail!.html).toContain(`href="${link}"`);
    expect(mail!.html).toContain("background:#e4572e"); // the brand colour on its button

    // The link opens a form; the new password is posted from it.
    const choose = await browser.request(link);
    expect(choose.status).toBe(200);
    expect(choose.html).toContain("Choose a new password");
    const done = await browser.submit(choose, `/reset/${token}`, { password: NEW_PASSWORD, repeat: NEW_PASSWORD });
    expect(done.status).toBe(200);
    expect(done.html).toContain("Password changed");

    // Back to the sign-in the reset started from, and in with the new password.
    const continueHref = /<a class="button-primary" href="([^"]*)">Continue signing in<\/a>/.exec(done.html)?.[1];
    expect(continueHref).toBe(`/interaction/${uid}`);
    const loginAgain = await browser.follow(`${idp.baseUrl}${continueHref}`);
    expect(loginAgain.html).toContain('name="password"');
    const wrong = await browser.submit(loginAgain, "/login", { email: person.email, password: person.password });
    expect(wrong.status).toBe(401);
    const callback = await browser.submit(wrong, "/login", { email: person.email, password: NEW_PASSWORD }, (url) => url.startsWith(REDIRECT_URI));
    expect(callback.url.startsWith(REDIRECT_URI)).toBe(true);
    expect((await exchange(web, start, callback.url)).claims()!.sub).toBe(person.id);

    // Everything issued before the reset is gone: the refresh token, the access token, the session.
    await expectOAuthError(oidc.refreshTokenGrant(web, before.tokens.refresh_token!), "invalid_grant");
    await expect(oidc.fetchUserInfo(web, before.tokens.access_token, person.id)).rejects.toThrow();
    const again = await startAuthorization(web);
    expect((await before.browser.follow(again.url.toString(), (url) => url.startsWith(REDIRECT_URI))).html).toContain('name="password"');

    // The person is told, in a second mail.
    const [, changed] = await smtp.waitFor(person.email, 2);
    expect(changed!.subject).toBe("Your Acme password was changed");
    expect(changed!.text).toContain(`${idp.baseUrl}/reset`);

    // The audit trail: requested and changed, by whom, and no token anywhere in it.
    const events = await idp.database.db.query<{ event: string; actor: string; details: object }>(
      "SELECT event, actor, details FROM audit_events WHERE user_id = $1 AND event LIKE 'password.%' ORDER BY id",
      [person.id],
    );
    expect(events.rows.map((row) => [row.event, row.actor])).toEqual([
      ["password.reset_requested", "anonymous"],
      ["password.changed", `user:${person.id}`],
    ]);
    expect(events.rows[1]!.details).toMatchObject({ method: "reset_link" });
    const everything = await idp.database.db.query<{ all: string }>("SELECT string_agg(a::text, '|') AS all FROM audit_events a");
    expect(everything.rows[0]!.all).not.toContain(token);
    // Nor in the outbox: the link was sealed, and its sealed copy dropped once sent.
    const outbox = await idp.database.db.query<{ payload: Buffer | null; sent_at: Date | null }>(
      "SELECT payload, sent_at FROM mail_outbox WHERE recipient = $1",
      [person.email],
    );
    expect(outbox.rows).toHaveLength(2);
    for (const row of outbox.rows) expect(row).toMatchObject({ payload: null, sent_at: expect.any(Date) });
  });

  it("lets a GET of the link (a mail scanner's) use nothing: only the form's POST does", async () => {
    const person = await newUser();
    await requestReset(person.email);
    const token = resetToken((await smtp.waitFor(person.email))[0]!);
    const link = `${idp.baseUrl}/reset/${token}`;
    for (let i = 0; i < 3; i++) {
      const scanned = await fetch(link, { headers: { accept: "text/html" } });
      expect(scanned.status).toBe(200);
      await scanned.text();
    }
    expect((await fetch(link, { method: "HEAD" })).status).toBe(200);
    expect(await tokenRow(token)).toEqual({ consumed_at: null, revoked_at: null });

    const browser = new Browser();
    const done = await browser.submit(await browser.request(link), `/reset/${token}`, { password: NEW_PASSWORD, repeat: NEW_PASSWORD });
    expect(done.status).toBe(200);
    expect((await tokenRow(token))!.consumed_at).toBeInstanceOf(Date);
  });

  it("refuses a used link, on GET and on POST, without changing the password again", async () => {
    const person = await newUser();
    await requestReset(person.email);
    const token = resetToken((await smtp.waitFor(person.email))[0]!);
    const browser = new Browser();
    const choose = await browser.request(`${idp.baseUrl}/reset/${token}`);
    expect((await browser.submit(choose, `/reset/${token}`, { password: NEW_PASSWORD, repeat: NEW_PASSWORD })).status).toBe(200);

    const replayed = await browser.submit(choose, `/reset/${token}`, { password: "another fine passphrase", repeat: "another fine passphrase" });
    expect(replayed.status).toBe(400);
    expect(replayed.html).toContain('data-error="invalid_link"');
    expect(replayed.html).toContain("This link cannot be used");
    const reopened = await browser.request(`${idp.baseUrl}/reset/${token}`);
    expect(reopened.status).toBe(400);
    expect(reopened.html).toContain('data-error="invalid_link"');
    await signedIn({ email: person.email, password: NEW_PASSWORD });
  });

  it("lets exactly one of several concurrent posts of one link set the password", async () => {
    const person = await newUser();
    await requestReset(person.email);
    const token = resetToken((await smtp.waitFor(person.email))[0]!);
    const passwords = ["first fine passphrase", "second fine passphrase", "third fine passphrase"];
    const browsers = await Promise.all(passwords.map(async () => {
      const browser = new Browser();
      return { browser, page: await browser.request(`${idp.baseUrl}/reset/${token}`) };
    }));
    const results = await Promise.all(
      browsers.map(({ browser, page }, index) => browser.submit(page, `/reset/${token}`, { password: passwords[index]!, repeat: passwords[index]! })),
    );
    expect(results.map((result) => result.status).sort()).toEqual([200, 400, 400]);
    const winner = passwords[results.findIndex((result) => result.status === 200)]!;
    await signedIn({ email: person.email, password: winner });
    const changes = await idp.database.db.query("SELECT 1 FROM audit_events WHERE user_id = $1 AND event = 'password.changed'", [person.id]);
    expect(changes.rowCount).toBe(1);
  });

  it("shows a link that cannot be used in the language the request asks for", async () => {
    const unknown = `${idp.baseUrl}/reset/${"A".repeat(43)}`;
    const page = await new Browser().request(`${unknown}?ui_locales=ja`, { headers: { "accept-language": "de" } });
    expect(page.status).toBe(400);
    expect(page.html).toContain('<html lang="ja">');
    expect(page.html).toContain(`<h1>${translate("ja", "error.resetLink.title")}</h1>`);
    expect((await new Browser().request(unknown, { headers: { "accept-language": "de" } })).html).toContain('<html lang="de">');
  });

  it("refuses an expired link", async () => {
    const person = await newUser();
    await requestReset(person.email);
    const token = resetToken((await smtp.waitFor(person.email))[0]!);
    const browser = new Browser();
    const choose = await browser.request(`${idp.baseUrl}/reset/${token}`);
    expect(choose.status).toBe(200);
    clockOffsetMs = 15 * 60 * 1000 + 1000;
    expect((await browser.request(`${idp.baseUrl}/reset/${token}`)).status).toBe(400);
    const late = await browser.submit(choose, `/reset/${token}`, { password: NEW_PASSWORD, repeat: NEW_PASSWORD });
    expect(late.status).toBe(400);
    expect(late.html).toContain('data-error="invalid_link"');
    await signedIn(person); // the old password still works
  });

  it("sends one link a minute, with the same answer; a newer link revokes the older", async () => {
    const person = await newUser();
    const first = await requestReset(person.email);
    const firstToken = resetToken((await smtp.waitFor(person.email))[0]!);
    clockOffsetMs = 30_000;
    const second = await requestReset(person.email);
    expect(withoutCsrf(second.html)).toBe(withoutCsrf(first.html));
    clockOffsetMs = 61_000;
    await requestReset(person.email);
    const mails = await smtp.waitFor(person.email, 2);
    // Only two mails: the request within the minute sent nothing.
    expect(await idp.database.db.query("SELECT 1 FROM mail_outbox WHERE recipient = $1", [person.email]).then((r) => r.rowCount)).toBe(2);
    const secondToken = resetToken(mails[1]!);
    expect(secondToken).not.toBe(firstToken);
    expect((await tokenRow(firstToken))!.revoked_at).toBeInstanceOf(Date);
    expect((await new Browser().request(`${idp.baseUrl}/reset/${firstToken}`)).status).toBe(400);
    expect((await new Browser().request(`${idp.baseUrl}/reset/${secondToken}`)).status).toBe(200);
  });

  it("holds the new password to the policy, and a refused one leaves the link usable", async () => {
    const person = await newUser();
    await requestReset(person.email);
    const token = resetToken((await smtp.waitFor(person.email))[0]!);
    const browser = new Browser();
    let page = await browser.request(`${idp.baseUrl}/reset/${token}`);
    const refusals: [Record<string, string>, string][] = [
      [{ password: "short", repeat: "short" }, "The password must have at least 8 characters."],
      [{ password: "password123", repeat: "password123" }, "This password is one of the most common ones. Choose another."],
      [{ password: person.email.toUpperCase(), repeat: person.email.toUpperCase() }, "The password must not be your email address or the part before the @."],
      [{ password: NEW_PASSWORD, repeat: `${NEW_PASSWORD}!` }, "The two passwords are not the same."],
    ];
    for (const [fields, message] of refusals) {
      page = await browser.submit(page, `/reset/${token}`, fields);
      expect(page.status, message).toBe(400);
      expect(page.html).toContain(message);
      expect(page.html).toContain('role="alert"');
    }
    expect(await tokenRow(token)).toEqual({ consumed_at: null, revoked_at: null });
    expect((await browser.submit(page, `/reset/${token}`, { password: NEW_PASSWORD, repeat: NEW_PASSWORD })).status).toBe(200);
  });

  it("counts posts of a link that cannot be used toward the lockout of its person", async () => {
    const person = await newUser();
    await requestReset(person.email);
    const token = resetToken((await smtp.waitFor(person.email))[0]!);
    const browser = new Browser();
    const choose = await browser.request(`${idp.baseUrl}/reset/${token}`);
    await browser.submit(choose, `/reset/${token}`, { password: NEW_PASSWORD, repeat: NEW_PASSWORD });
    // LOCKOUT_THRESHOLD=3: three posts of the used link lock the email.
    for (let i = 0; i < 3; i++) expect((await browser.submit(choose, `/reset/${token}`, { password: NEW_PASSWORD, repeat: NEW_PASSWORD })).status).toBe(400);
    const start = await startAuthorization(web);
    const locked = await signIn(new Browser(), start, { email: person.email, password: NEW_PASSWORD });
    expect(locked.status).toBe(429);
    expect(locked.html).toContain("Too many failed sign-ins for this email");
    const failures = await idp.database.db.query("SELECT 1 FROM audit_events WHERE user_id = $1 AND event = 'password.reset_failed'", [person.id]);
    expect(failures.rowCount).toBe(3);
  });

  it("ends a lockout once the password is reset: the lock guarded the old password", async () => {
    const person = await newUser();
    const browser = new Browser();
    const start = await startAuthorization(web);
    let page = await browser.follow(start.url.toString());
    for (let i = 0; i < 3; i++) page = await browser.submit(page, "/login", { email: person.email, password: `wrong password ${i}` });
    expect(page.status).toBe(429);
    await requestReset(person.email);
    const token = resetToken((await smtp.waitFor(person.email))[0]!);
    const choose = await browser.request(`${idp.baseUrl}/reset/${token}`);
    expect((await browser.submit(choose, `/reset/${token}`, { password: NEW_PASSWORD, repeat: NEW_PASSWORD })).status).toBe(200);
    await signedIn({ email: person.email, password: NEW_PASSWORD });
  });

  it("writes the mail and the pages the link opens in the language of the request", async () => {
    const person = await newUser();
    const browser = new Browser();
    await requestReset(person.email, browser, { "accept-language": "de-CH, en;q=0.5" });
    const [mail] = await smtp.waitFor(person.email);
    expect(mail!.subject).toBe("Ihr Passwort für Acme zurücksetzen");
    expect(mail!.text).toContain("Der Link funktioniert einmal und 15 Minuten lang.");
    // The link opens in German even in a browser that asks for nothing in particular.
    const page = await new Browser().request(`${idp.baseUrl}/reset/${resetToken(mail!)}`);
    expect(page.html).toContain('<html lang="de">');
    expect(page.html).toContain("Neues Passwort festlegen");
  });

  it("keeps the token out of the request logs", async () => {
    const person = await newUser();
    await requestReset(person.email);
    const token = resetToken((await smtp.waitFor(person.email))[0]!);
    // An IdP logging every request as it does in production (on another database: the token is unknown there).
    const logs = captureLogs();
    const logged = await startTestIdp({ env: { SMTP_URL: smtp.url() }, logger: { ...(loggerOptions("trace") as object), stream: logs.stream }, listen: false });
    try {
      expect((await logged.app.inject({ url: `/reset/${token}`, headers: { accept: "text/html" } })).statusCode).toBe(400);
      expect((await logged.app.inject({ method: "POST", url: `/reset/${token}`, payload: { password: NEW_PASSWORD, repeat: NEW_PASSWORD, _csrf: "x" } })).statusCode).toBe(403);
      const log = logs.lines.join("");
      expect(log).toContain('"url":"/reset/[redacted]"');
      expect(log).not.toContain(token);
    } finally {
      await logged.close();
    }
  });
});

describe("enumeration", () => {
  /** One request for a link, from a fresh browser: the answer's status, headers and page. */
  async function answerFor(email: string) {
    const client = new FormClient(idp.baseUrl);
    const form = await client.request("/reset");
    const reply = await client.request("/reset", { form: { ...findForm(form.html, "/reset").hidden, email } });
    const headers = Object.fromEntries([...reply.headers].filter(([name]) => !["date", "x-request-id"].includes(name)));
    return { status: reply.status, headers, html: withoutCsrf(reply.html) };
  }

  it("answers a registered, an unknown and a disabled email byte for byte the same, and mails only the registered one", async () => {
    const known = await newUser();
    const disabled = await newUser();
    await idp.admin.users.setDisabled(disabled.email, true);
    const answers = {
      known: await answerFor(known.email),
      unknown: await answerFor("nobody-at-all@example.com"),
      disabled: await answerFor(disabled.email),
    };
    expect(answers.known.status).toBe(200);
    expect(answers.unknown).toEqual(answers.known);
    expect(answers.disabled).toEqual(answers.known);
    expect(answers.known.html).not.toContain(known.email);

    await smtp.waitFor(known.email);
    const queued = await idp.database.db.query<{ recipient: string }>("SELECT recipient FROM mail_outbox WHERE recipient = ANY($1)", [
      [known.email, disabled.email, "nobody-at-all@example.com"],
    ]);
    expect(queued.rows.map((row) => row.recipient)).toEqual([known.email]);
    // Each request is in the audit trail, with the email as typed.
    const audited = await idp.database.db.query<{ email: string; user_id: string | null }>(
      "SELECT email, user_id FROM audit_events WHERE event = 'password.reset_requested' AND email = 'nobody-at-all@example.com'",
    );
    expect(audited.rows).toEqual([{ email: "nobody-at-all@example.com", user_id: null }]);
  });
});
