// Passwordless sign-in and sign-up in a real Chromium, every step a click or keystroke, with a real
// SMTP server receiving the mails and openid-client as the relying party: sign-up (email, code or
// link, password) into the application with a verified address; sign-in by a mailed code; the mailed
// link opened in the browser that asked and in another one (which confirms with the code the
// first shows, and gets no session); a mail scanner's GET and HEAD of the link use nothing. No
// page on the way reports a Content-Security-Policy violation or a script error.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import * as oidc from "openid-client";
import type { ParsedMail } from "mailparser";
import type { BrowserContext, Page } from "playwright-core";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { launchChromium, type Chromium } from "../support/chromium.ts";
import { discover, exchange, startAuthorization } from "../support/oidc-flow.ts";
import { TestMailServer } from "../support/smtp.ts";

const PASSWORD = "violet tractor sandwich";

let smtp: TestMailServer;
let idp: TestIdp;
let web: oidc.Configuration;
/**
 * The application's callback, answered by a real listener: Chromium does not reliably hand a
 * redirect's target to a route handler, and a refused connection there ends in an error page.
 */
let application: http.Server;
let callbackUri: string;
let chromium: Chromium | undefined;
/** The IdP's clock runs this far ahead: the sign-up form's minimum age passes without a sleep. */
let clockOffsetMs = 0;
let people = 0;

beforeAll(async () => {
  const launching = launchChromium().then((launched) => (chromium = launched));
  launching.catch(() => {});
  application = http.createServer((_, response) => response.writeHead(200, { "content-type": "text/plain" }).end("the application"));
  await new Promise<void>((resolve) => application.listen(0, "127.0.0.1", resolve));
  callbackUri = `http://localhost:${(application.address() as AddressInfo).port}/callback`;
  smtp = await TestMailServer.start();
  idp = await startTestIdp({
    now: () => new Date(Date.now() + clockOffsetMs),
    env: {
      SMTP_URL: smtp.url(),
      MAIL_POLL_INTERVAL_MS: "100",
      BRAND_NAME: "Acme",
      SIGN_UP: "open",
      SIGN_IN_METHODS: "password,email_code",
      // Every request comes from 127.0.0.1; the limits have their own tests.
      SIGN_IN_LIMIT_PER_IP: "0",
      EMAIL_CODE_LIMIT_PER_IP: "0",
      SIGN_UP_LIMIT_PER_IP: "0",
    },
  });
  await idp.admin.addClient({ id: "web", name: "Web App", public: true, firstParty: true, redirectUris: [callbackUri] });
  web = await discover(idp.issuer, "web");
  await launching;
}, 120_000);
const open: BrowserContext[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((context) => context.close()));
});
afterAll(async () => {
  await chromium?.close();
  await idp?.close();
  await smtp?.stop();
  application?.closeAllConnections();
  await new Promise((resolve) => application?.close(resolve));
});

const codeOf = (mail: ParsedMail) => /^\s+(\d{6})$/m.exec(mail.text ?? "")![1]!;
const linkOf = (mail: ParsedMail) => /(http:\/\/[^\s]+\/email-link\/[A-Za-z0-9_-]{43})/.exec(mail.text ?? "")![1]!;
const atCallback = (url: URL) => url.href.startsWith(callbackUri);

type Watched = { context: BrowserContext; cspViolations: string[]; pageErrors: string[] };

/**
 * A fresh context whose every page (the first and any opened later) reports its CSP violations and
 * script errors; the relying party's callback is answered by the listener above.
 */
async function watchedContext(): Promise<Watched> {
  const context = await chromium!.newContext();
  open.push(context);
  const watched: Watched = { context, cspViolations: [], pageErrors: [] };
  context.on("page", (page) => {
    page.on("console", (message) => {
      if (/Content Security Policy/i.test(message.text())) watched.cspViolations.push(`${page.url()}: ${message.text()}`);
    });
    page.on("pageerror", (error) => watched.pageErrors.push(`${page.url()}: ${error.message}`));
  });
  return watched;
}

function expectClean(watched: Watched): void {
  expect(watched.cspViolations, "CSP violations").toEqual([]);
  expect(watched.pageErrors, "script errors").toEqual([]);
}

async function newPerson() {
  const email = `chromium-coder${++people}@example.com`;
  const user = await idp.admin.addUser({ email, password: "correct horse battery" });
  return { id: user.id, email };
}

/** The latest one-time code row for an address: what a scanner must not touch. */
async function codeRow(identifier: string) {
  const { rows } = await idp.database.db.query<{ attempts: number; consumed_at: Date | null; approved_at: Date | null }>(
    "SELECT attempts, consumed_at, approved_at FROM one_time_codes WHERE identifier = $1 ORDER BY id DESC LIMIT 1",
    [identifier],
  );
  return rows[0];
}

/** The application's authorization URL in the page, then "Email me a sign-in code" for this address. */
async function askForCode(page: Page, email: string) {
  const start = await startAuthorization(web, { redirect_uri: callbackUri });
  await page.goto(start.url.toString());
  await page.getByLabel("Email").fill(email);
  await page.getByRole("button", { name: "Email me a sign-in code" }).click();
  await page.getByRole("heading", { name: "Check your email" }).waitFor();
  return start;
}

/** A link checker in a mail system: GET and HEAD without cookies, as scanners fetch links. */
async function scan(link: string): Promise<void> {
  const headers = { "user-agent": "Mozilla/5.0 (compatible; LinkScanner/1.0)", accept: "text/html,*/*" };
  const got = await fetch(link, { headers, redirect: "manual" });
  expect(got.status).toBe(200);
  expect(await got.text()).toContain("Confirm on this device");
  const head = await fetch(link, { method: "HEAD", headers, redirect: "manual" });
  expect(head.status).toBe(200);
}

describe("passwordless in Chromium", () => {
  it("signs up: Create an account, the code from the mail, a password, and into the application verified", async () => {
    const watched = await watchedContext();
    const page = await watched.context.newPage();
    const email = `chromium-newcomer${++people}@example.com`;
    const start = await startAuthorization(web, { redirect_uri: callbackUri });
    await page.goto(start.url.toString());
    await page.getByRole("link", { name: "Create an account" }).click();
    await page.getByRole("heading", { name: "Create an account" }).waitFor();
    await page.getByLabel("Email").fill(email);
    // A person takes a moment over the form: the IdP's clock passes SIGN_UP_MIN_FORM_SECONDS (2).
    clockOffsetMs += 3_000;
    await page.getByRole("button", { name: "Continue" }).click();
    await page.getByRole("heading", { name: "Check your email" }).waitFor();

    const code = codeOf((await smtp.waitFor(email))[0]!);
    await page.getByLabel("Code from the email").fill(code);
    await page.getByRole("button", { name: "Confirm" }).click();
    await page.getByRole("heading", { name: "Choose a password" }).waitFor();
    await page.getByLabel("New password", { exact: true }).fill(PASSWORD);
    await page.getByLabel("New password again").fill(PASSWORD);
    await page.getByRole("button", { name: "Create account" }).click();
    await page.waitForURL(atCallback);

    const tokens = await exchange(web, start, page.url());
    const { rows } = await idp.database.db.query<{ id: string }>("SELECT id FROM users WHERE email = $1", [email]);
    expect(tokens.claims()).toMatchObject({ sub: rows[0]!.id, email, email_verified: true });
    expectClean(watched);
  });

  it("signs up with the link from the mail, opened in a new tab of the same browser", async () => {
    const watched = await watchedContext();
    const page = await watched.context.newPage();
    const email = `chromium-newcomer${++people}@example.com`;
    const start = await startAuthorization(web, { redirect_uri: callbackUri });
    await page.goto(start.url.toString());
    await page.getByRole("link", { name: "Create an account" }).click();
    await page.getByLabel("Email").fill(email);
    clockOffsetMs += 3_000;
    await page.getByRole("button", { name: "Continue" }).click();
    await page.getByRole("heading", { name: "Check your email" }).waitFor();

    const tab = await watched.context.newPage();
    await tab.goto(linkOf((await smtp.waitFor(email))[0]!));
    await tab.getByRole("heading", { name: "Confirm your email address" }).waitFor();
    await tab.getByRole("button", { name: "Continue" }).click();
    await tab.getByRole("heading", { name: "Choose a password" }).waitFor();
    await tab.getByLabel("New password", { exact: true }).fill(PASSWORD);
    await tab.getByLabel("New password again").fill(PASSWORD);
    await tab.getByRole("button", { name: "Create account" }).click();
    await tab.waitForURL(atCallback);
    expect((await exchange(web, start, tab.url())).claims()).toMatchObject({ email, email_verified: true });
    expectClean(watched);
  });

  it("signs in with the code from the mail", async () => {
    const person = await newPerson();
    const watched = await watchedContext();
    const page = await watched.context.newPage();
    const start = await askForCode(page, person.email);
    const code = codeOf((await smtp.waitFor(person.email))[0]!);
    await page.getByLabel("Sign-in code").fill(`${code.slice(0, 3)} ${code.slice(3)}`);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.waitForURL(atCallback);
    expect((await exchange(web, start, page.url())).claims()!.sub).toBe(person.id);
    expectClean(watched);
  });

  it("signs in with the link opened in a new tab of the same browser, after a scanner fetched it and used nothing", async () => {
    const person = await newPerson();
    const watched = await watchedContext();
    const asking = await watched.context.newPage();
    const start = await askForCode(asking, person.email);
    const link = linkOf((await smtp.waitFor(person.email))[0]!);

    await scan(link);
    expect(await codeRow(person.email)).toMatchObject({ attempts: 0, consumed_at: null, approved_at: null });

    // A click in a mail client: a new tab of the same browser, with its cookies.
    const tab = await watched.context.newPage();
    await tab.goto(link);
    await tab.getByRole("heading", { name: "Continue signing in" }).waitFor();
    expect(await codeRow(person.email)).toMatchObject({ consumed_at: null });
    await tab.getByRole("button", { name: "Continue" }).click();
    // The authorization the first tab started finishes in this tab.
    await tab.waitForURL(atCallback);
    expect((await exchange(web, start, tab.url())).claims()!.sub).toBe(person.id);
    expect((await codeRow(person.email))!.consumed_at).not.toBeNull();
    expectClean(watched);
  });

  it("signs in with the link opened in another browser, which confirms with the code the first shows and gets no session", async () => {
    const person = await newPerson();
    const first = await watchedContext();
    const asking = await first.context.newPage();
    const start = await askForCode(asking, person.email);
    const confirmation = (await asking.locator("#confirmation-code").textContent())!.replace(/\s/g, "");
    expect(confirmation).toMatch(/^\d{6}$/);
    const link = linkOf((await smtp.waitFor(person.email))[0]!);

    await scan(link);
    expect(await codeRow(person.email)).toMatchObject({ attempts: 0, consumed_at: null, approved_at: null });

    const second = await watchedContext();
    const phone = await second.context.newPage();
    await phone.goto(link);
    await phone.getByRole("heading", { name: "Confirm on this device" }).waitFor();
    await phone.getByLabel("Confirmation code").fill(confirmation);
    await phone.getByRole("button", { name: "Confirm" }).click();
    await phone.getByRole("heading", { name: "Confirmed" }).waitFor();
    expect((await codeRow(person.email))!.approved_at).not.toBeNull();
    const phoneCookies = (await second.context.cookies()).map((cookie) => cookie.name);
    expect(phoneCookies.filter((name) => name.startsWith("_session"))).toEqual([]);

    await asking.getByRole("button", { name: "Continue" }).click();
    await asking.waitForURL(atCallback);
    expect((await exchange(web, start, asking.url())).claims()!.sub).toBe(person.id);
    expect((await first.context.cookies()).some((cookie) => cookie.name.startsWith("_session"))).toBe(true);
    expectClean(second);
    expectClean(first);
  });
});
