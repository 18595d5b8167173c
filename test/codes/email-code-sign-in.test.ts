// Sign-in by a code or link by mail, end to end: a listening IdP with real PostgreSQL, a real SMTP
// server in the process that parses every mail, openid-client as the relying party. The code signs
// in only in the browser that asked, once, five tries at most, before it expires, and only while
// it is the newest; the link's GET uses nothing; opened in another browser it can only approve the
// asking browser with the confirmation code that browser shows; known and unknown emails get the
// same page and only the known one a mail.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import * as oidc from "openid-client";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { Browser, findForm, type Page } from "../support/browser.ts";
import { discover, exchange, startAuthorization, REDIRECT_URI, type AuthorizationStart } from "../support/oidc-flow.ts";
import { TestMailServer } from "../support/smtp.ts";
import type { ParsedMail } from "mailparser";
import { captureLogs } from "../support/log-capture.ts";
import { loggerOptions } from "../../idp/logging.ts";

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
      BRAND_NAME: "Acme",
      MAIL_POLL_INTERVAL_MS: "100",
      SIGN_IN_METHODS: "password,email_code",
      LOCKOUT_THRESHOLD: "8",
      SIGN_IN_DELAY_MAX_MS: "0",
      // Every request here comes from 127.0.0.1; the limits are tested on their own.
      EMAIL_CODE_LIMIT_PER_IP: "0",
      SIGN_IN_LIMIT_PER_IP: "0",
      SIGN_IN_LIMIT_PER_ACCOUNT: "0",
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

const atCallback = (url: string) => url.startsWith(REDIRECT_URI);

/** A fresh person for each test, so cooldowns, locks and mails never cross tests. */
async function newUser() {
  const email = `coder${++userCount}@example.com`;
  const user = await idp.admin.addUser({ email, password: "correct horse battery" });
  return { id: user.id, email };
}

type SignInAttempt = { browser: Browser; start: AuthorizationStart; login: Page; uid: string };

async function openSignIn(browser = new Browser()): Promise<SignInAttempt> {
  const start = await startAuthorization(web);
  const login = await browser.follow(start.url.toString());
  expect(login.status).toBe(200);
  const uid = /\/interaction\/([A-Za-z0-9_-]+)\/login/.exec(login.html)![1]!;
  return { browser, start, login, uid };
}

/** "Email me a sign-in code": the sign-in form posted to the button's formaction. */
async function askForCode(attempt: SignInAttempt, email: string): Promise<Page> {
  const { hidden } = findForm(attempt.login.html, "/login");
  return attempt.browser.request(`${idp.baseUrl}/interaction/${attempt.uid}/email-code`, { form: { ...hidden, email, password: "" } });
}

const codeOf = (mail: ParsedMail) => /^\s+(\d{6})$/m.exec(mail.text ?? "")![1]!;
const linkOf = (mail: ParsedMail) => /(http:\/\/[^\s]+\/email-link\/[A-Za-z0-9_-]{43})/.exec(mail.text ?? "")![1]!;
const confirmationOn = (page: Page) => /id="confirmation-code">(\d{3}) (\d{3})</.exec(page.html)!.slice(1).join("");

async function enterCode(attempt: SignInAttempt, codePage: Page, code: string): Promise<Page> {
  return attempt.browser.submit(codePage, "/code", { code }, atCallback);
}

async function codeRow(email: string) {
  const { rows } = await idp.database.db.query<{ attempts: number; consumed_at: Date | null; revoked_at: Date | null; approved_at: Date | null }>(
    "SELECT attempts, consumed_at, revoked_at, approved_at FROM one_time_codes WHERE identifier = $1 ORDER BY id DESC LIMIT 1",
    [email],
  );
  return rows[0];
}

describe("sign-in with a code by mail", () => {
  it("offers the code on the sign-in page, mails it with a link, and signs in with it", async () => {
    const person = await newUser();
    const attempt = await openSignIn();
    expect(attempt.login.html).toContain(`formaction="/interaction/${attempt.uid}/email-code"`);
    const sent = await askForCode(attempt, person.email.toUpperCase());
    expect(sent.status).toBe(200);
    expect(sent.html).toContain("Check your email");
    expect(sent.html).toContain('autocomplete="one-time-code"');

    const [mail] = await smtp.waitFor(person.email);
    const code = codeOf(mail!);
    expect(mail!.subject).toBe(`${code} is your Acme sign-in code`);
    expect(mail!.html).toContain(code);
    expect(linkOf(mail!)).toMatch(/\/email-link\//);
    // Only HMACs are stored: neither the code nor the link's token is in the row.
    const { rows } = await idp.database.db.query<{ row: string }>("SELECT t::text AS row FROM one_time_codes t WHERE identifier = $1", [person.email]);
    expect(rows[0]!.row).not.toContain(code);

    const wrong = await enterCode(attempt, sent, code === "000000" ? "111111" : "000000");
    expect(wrong.status).toBe(400);
    expect(wrong.html).toContain("This code is wrong or no longer works");
    const signedIn = await enterCode(attempt, wrong, `${code.slice(0, 3)} ${code.slice(3)}`);
    expect(atCallback(signedIn.url), signedIn.html.slice(0, 400)).toBe(true);
    const tokens = await exchange(web, attempt.start, signedIn.url);
    // The code proved the address: it is verified from this sign-in on.
    expect(tokens.claims()).toMatchObject({ sub: person.id, email_verified: true });

    const audit = await idp.database.db.query<{ event: string; details: { method?: string } }>(
      "SELECT event, details FROM audit_events WHERE email = $1 AND event LIKE 'sign_in.%' ORDER BY id",
      [person.email],
    );
    expect(audit.rows.map((row) => row.event)).toEqual(["sign_in.code_requested", "sign_in.failed", "sign_in.succeeded"]);
    expect(audit.rows[2]!.details.method).toBe("email_code");
    const verified = await idp.database.db.query("SELECT 1 FROM audit_events WHERE user_id = $1 AND event = 'email.verified'", [person.id]);
    expect(verified.rows).toHaveLength(1);
  });

  it("refuses a used, an expired, a superseded code and one posted from another browser", async () => {
    const person = await newUser();
    const attempt = await openSignIn();
    const sent = await askForCode(attempt, person.email);
    const code = codeOf((await smtp.waitFor(person.email))[0]!);

    // Another browser, with its own sign-in, types the code: nothing to try for that browser.
    const stranger = await openSignIn();
    const strangerPage = await askForCode(stranger, "nobody-here@example.com");
    const elsewhere = await stranger.browser.submit(strangerPage, "/code", { code, identifier: person.email }, atCallback);
    expect(elsewhere.status).toBe(400);
    expect((await codeRow(person.email))!.attempts).toBe(0);

    // Expired: ten minutes later.
    clockOffsetMs = 11 * 60_000;
    expect((await enterCode(attempt, sent, code)).status).toBe(400);
    clockOffsetMs = 0;

    // Used: once signed in, the same code again in a new sign-in of the same browser.
    const ok = await enterCode(attempt, sent, code);
    expect(atCallback(ok.url)).toBe(true);
    const again = await openSignIn(new Browser());
    const againPage = await askForCode(again, person.email); // another browser: its own, new code
    expect((await enterCode(again, againPage, code)).status).toBe(400);

    // Superseded: a newer code (after the cooldown) revokes the older one.
    const third = await openSignIn();
    const mailsSoFar = (await smtp.waitFor(person.email, 2)).length;
    clockOffsetMs = 61_000;
    const first = await askForCode(third, person.email);
    const older = codeOf((await smtp.waitFor(person.email, mailsSoFar + 1))[mailsSoFar]!);
    clockOffsetMs = 122_000;
    const second = await askForCode(third, person.email);
    const newer = codeOf((await smtp.waitFor(person.email, mailsSoFar + 2))[mailsSoFar + 1]!);
    if (older !== newer) expect((await enterCode(third, first, older)).status).toBe(400);
    expect(atCallback((await enterCode(third, second, newer)).url)).toBe(true);
  });

  it("works only in the sign-in that asked, and not for a person disabled since", async () => {
    const person = await newUser();
    const browser = new Browser();
    const first = await openSignIn(browser);
    await askForCode(first, person.email);
    const code = codeOf((await smtp.waitFor(person.email))[0]!);
    // The same browser, another sign-in: the code is not this sign-in's.
    const second = await openSignIn(browser);
    const secondPage = await askForCode(second, person.email); // within the cooldown: nothing new is sent
    expect((await enterCode(second, secondPage, code)).status).toBe(400);
    expect((await codeRow(person.email))!.consumed_at).toBeNull();

    const other = await newUser();
    const attempt = await openSignIn();
    const page = await askForCode(attempt, other.email);
    const otherCode = codeOf((await smtp.waitFor(other.email))[0]!);
    await idp.admin.users.setDisabled(other.email, true);
    const refused = await enterCode(attempt, page, otherCode);
    expect(refused.status).toBe(400);
    expect((await codeRow(other.email))!.consumed_at).toBeNull();
  });

  it("lets nobody else cancel or hold up a person's code by asking for the same address", async () => {
    const person = await newUser();
    const mine = await openSignIn();
    const myPage = await askForCode(mine, person.email);
    const [myMail] = await smtp.waitFor(person.email);
    // Someone else asks for the same address at once, from their own browser: their own code.
    const theirs = await openSignIn();
    await askForCode(theirs, person.email);
    const mails = await smtp.waitFor(person.email, 2);
    expect(mails).toHaveLength(2);
    const signedIn = await enterCode(mine, myPage, codeOf(myMail!));
    expect(atCallback(signedIn.url), signedIn.html.slice(0, 300)).toBe(true);
  });

  it("refuses a malformed identifier with a 400, changing nothing", async () => {
    const attempt = await openSignIn();
    const page = await askForCode(attempt, "someone@example.com");
    const reply = await attempt.browser.submit(page, "/code", { code: "123456", identifier: "a\u0000b@example.com" });
    expect(reply.status).toBe(400);
  });

  it("allows five tries per code: the right code after five wrong ones is refused", async () => {
    const person = await newUser();
    const attempt = await openSignIn();
    let page = await askForCode(attempt, person.email);
    const code = codeOf((await smtp.waitFor(person.email))[0]!);
    const wrong = code === "999999" ? "888888" : "999999";
    for (let i = 0; i < 5; i++) page = await enterCode(attempt, page, wrong);
    expect((await codeRow(person.email))!.attempts).toBe(5);
    const sixth = await enterCode(attempt, page, code);
    expect(sixth.status).toBe(400);
    expect((await codeRow(person.email))!.consumed_at).toBeNull();
  });

  it("counts wrong codes toward the lockout of the address, known or not, across many codes", async () => {
    const person = await newUser();
    const attempt = await openSignIn();
    let page = await askForCode(attempt, person.email);
    const wrong = "123456";
    let last: Page = page;
    // Eight failures lock the address (LOCKOUT_THRESHOLD=8), whichever codes they were against.
    for (let i = 0; i < 8; i++) {
      if (i === 4) {
        clockOffsetMs = 61_000;
        page = await askForCode(attempt, person.email);
      }
      last = await enterCode(attempt, page, wrong);
    }
    expect(last.status).toBe(429);
    expect(last.html).toContain("Too many wrong codes");
    const code = codeOf((await smtp.waitFor(person.email, 2))[1]!);
    const locked = await enterCode(attempt, page, code);
    expect(locked.status).toBe(429);
  });

  it("answers a known and an unknown email with the same page, and mails only the known one", async () => {
    const person = await newUser();
    const browser = new Browser();
    const known = await askForCode(await openSignIn(browser), person.email);
    const unknown = await askForCode(await openSignIn(browser), `${person.email}.unknown.example`);
    const normalise = (page: Page, email: string) =>
      page.html.replace(/name="_csrf" value="[^"]*"/g, "").replace(/\/interaction\/[A-Za-z0-9_-]+/g, "/interaction/UID").replaceAll(email, "EMAIL");
    expect(known.status).toBe(unknown.status);
    expect(normalise(unknown, `${person.email}.unknown.example`)).toBe(normalise(known, person.email));
    await smtp.waitFor(person.email);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(smtp.to(`${person.email}.unknown.example`)).toHaveLength(0);
  });
});

describe("the magic link", () => {
  it("uses nothing on GET; posted in the browser that asked, it signs in", async () => {
    const person = await newUser();
    const attempt = await openSignIn();
    await askForCode(attempt, person.email);
    const link = linkOf((await smtp.waitFor(person.email))[0]!);

    // A mail scanner (no cookies) fetches the link: another browser's page, nothing used.
    const scanner = await new Browser().request(link);
    expect(scanner.status).toBe(200);
    expect(scanner.html).toContain("Confirm on this device");
    expect(await codeRow(person.email)).toMatchObject({ attempts: 0, consumed_at: null, approved_at: null });

    const landing = await attempt.browser.request(link);
    expect(landing.status).toBe(200);
    expect(landing.html).toContain(`action="/interaction/${attempt.uid}/link"`);
    expect((await codeRow(person.email))!.consumed_at).toBeNull();
    const signedIn = await attempt.browser.submit(landing, "/link", {}, atCallback);
    expect(atCallback(signedIn.url), signedIn.html.slice(0, 400)).toBe(true);
    expect((await exchange(web, attempt.start, signedIn.url)).claims()!.sub).toBe(person.id);

    // Used: the link now opens the "can no longer be used" page.
    const used = await attempt.browser.request(link, { headers: { accept: "text/html" } });
    expect(used.status).toBe(400);
    expect(used.html).toContain("This link can no longer be used");
  });

  it("opened in another browser, approves the asking browser only with the confirmation code it shows", async () => {
    const person = await newUser();
    const attempt = await openSignIn();
    const codePage = await askForCode(attempt, person.email);
    const confirmation = confirmationOn(codePage);
    const link = linkOf((await smtp.waitFor(person.email))[0]!);

    // Not confirmed yet: Continue does nothing.
    const early = await attempt.browser.submit(codePage, "/code/continue", {}, atCallback);
    expect(early.status).toBe(400);
    expect(early.html).toContain("has not been confirmed");

    const phone = new Browser();
    const other = await phone.request(link);
    expect(other.html).toContain("Confirm on this device");
    const wrongConfirmation = confirmation === "000000" ? "111111" : "000000";
    const wrong = await phone.submit(other, "/email-link/", { confirmation: wrongConfirmation });
    expect(wrong.status).toBe(400);
    const approved = await phone.submit(wrong, "/email-link/", { confirmation });
    expect(approved.status).toBe(200);
    expect(approved.html).toContain("Go back to the browser where you started");
    // The other browser is not signed in: it has no session at all.
    expect(phone.cookieNames().some((name) => name.startsWith("_session"))).toBe(false);

    const signedIn = await attempt.browser.submit(codePage, "/code/continue", {}, atCallback);
    expect(atCallback(signedIn.url), signedIn.html.slice(0, 400)).toBe(true);
    expect((await exchange(web, attempt.start, signedIn.url)).claims()!.sub).toBe(person.id);
    expect((await codeRow(person.email))!.consumed_at).not.toBeNull();
  });

  it("keeps the link's token out of the request logs", async () => {
    const person = await newUser();
    await askForCode(await openSignIn(), person.email);
    const link = linkOf((await smtp.waitFor(person.email))[0]!);
    const token = link.slice(link.lastIndexOf("/") + 1);
    // An IdP logging every request as it does in production (on another database: the token is unknown there).
    const logs = captureLogs();
    const logged = await startTestIdp({ env: { SMTP_URL: smtp.url() }, logger: { ...(loggerOptions("trace") as object), stream: logs.stream }, listen: false });
    try {
      expect((await logged.app.inject({ url: `/email-link/${token}`, headers: { accept: "text/html" } })).statusCode).toBe(400);
      const log = logs.lines.join("");
      expect(log).toContain('"url":"/email-link/[redacted]"');
      expect(log).not.toContain(token);
    } finally {
      await logged.close();
    }
  });
});
