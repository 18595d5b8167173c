// The pages of passwordless sign-in and of sign-up in a real Chromium, each reached by the steps a
// person takes (mails received by a real SMTP server): the sign-in page with the code button and
// with the code as the only way in, "check your email" with its confirmation code (and "check your
// phone"), the SMS request, the mailed link's pages in the same and in another browser, the sign-up
// email, "check your email" and password pages, and the error state of the forms. At 320 and
// 1280 px, light and dark: no horizontal overflow, no serious or critical axe violation, no field
// or button too small to use, a screenshot kept in test-artifacts/pages/passwordless-*. Per page:
// the markup rules, no CSP violation or script error, every error linking to its invalid field.
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { ParsedMail } from "mailparser";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium, type Chromium } from "../support/chromium.ts";
import { Browser, findForm } from "../support/browser.ts";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { authorizationQuery, REDIRECT_URI } from "../support/oidc-flow.ts";
import { TestMailServer } from "../support/smtp.ts";
import { axeProblems, markupProblems, NO_MARKUP_PROBLEMS, overflow, smallControls } from "./page-checks.ts";

const ARTIFACTS = fileURLToPath(new URL("../../test-artifacts/pages/", import.meta.url));
const VIEWS = [320, 1280].flatMap((width) => (["light", "dark"] as const).map((scheme) => [width, scheme] as const));

let smtp: TestMailServer;
/** Every way in (password, code by mail, code by SMS through the development file sender) and open sign-up. */
let idp: TestIdp;
/** SIGN_IN_METHODS=email_code: the code is the only way in. */
let codeOnlyIdp: TestIdp;
let chromium: Chromium | undefined;
let people = 0;

const env = (smtpUrl: string, methods: string) => ({
  SMTP_URL: smtpUrl,
  MAIL_POLL_INTERVAL_MS: "100",
  SIGN_IN_METHODS: methods,
  SIGN_UP: "open",
  // The form's minimum age is walked through in test/codes/in-chromium.test.ts.
  SIGN_UP_MIN_FORM_SECONDS: "0",
  SIGN_IN_LIMIT_PER_IP: "0",
  EMAIL_CODE_LIMIT_PER_IP: "0",
  SMS_CODE_LIMIT_PER_IP: "0",
  SIGN_UP_LIMIT_PER_IP: "0",
});

beforeAll(async () => {
  const launching = launchChromium().then((launched) => (chromium = launched));
  launching.catch(() => {});
  await mkdir(ARTIFACTS, { recursive: true });
  smtp = await TestMailServer.start();
  [idp, codeOnlyIdp] = await Promise.all([
    startTestIdp({ env: env(smtp.url(), "password,email_code,sms_code") }),
    startTestIdp({ env: env(smtp.url(), "email_code") }),
  ]);
  for (const each of [idp, codeOnlyIdp]) await each.admin.addClient({ id: "web", name: "Web App", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
  await launching;
}, 120_000);

afterAll(async () => {
  await chromium?.close();
  await Promise.all([idp?.close(), codeOnlyIdp?.close()]);
  await smtp?.stop();
});

const authorizationUrl = (target: TestIdp) => `${target.issuer}/auth?${authorizationQuery({ scope: "openid email", state: "state-1", nonce: "nonce-1" })}`;
const codeOf = (mail: ParsedMail) => /^\s+(\d{6})$/m.exec(mail.text ?? "")![1]!;
const linkOf = (mail: ParsedMail) => /(http:\/\/[^\s]+\/email-link\/[A-Za-z0-9_-]{43})/.exec(mail.text ?? "")![1]!;

async function newPerson(): Promise<string> {
  const email = `passwordless${++people}@example.com`;
  await idp.admin.addUser({ email, password: "correct horse battery" });
  return email;
}

const heading = (page: Page, name: string) => page.getByRole("heading", { name, level: 1 }).waitFor();
const button = (page: Page, name: string) => page.getByRole("button", { name, exact: true }).click();

async function askForCode(page: Page, email: string): Promise<void> {
  await page.goto(authorizationUrl(idp));
  await page.getByLabel("Email").fill(email);
  await button(page, "Email me a sign-in code");
  await heading(page, "Check your email");
}

/** A code asked for by another browser (plain HTTP): its mailed link and the confirmation code that browser shows. */
async function askElsewhere(): Promise<{ link: string; confirmation: string }> {
  const email = await newPerson();
  const browser = new Browser();
  const login = await browser.follow(authorizationUrl(idp));
  const uid = /\/interaction\/([A-Za-z0-9_-]+)\/login/.exec(login.html)![1]!;
  const { hidden } = findForm(login.html, "/login");
  const sent = await browser.request(`${idp.baseUrl}/interaction/${uid}/email-code`, { form: { ...hidden, email, password: "" } });
  const confirmation = /id="confirmation-code">(\d{3}) (\d{3})</.exec(sent.html)!.slice(1).join("");
  return { link: linkOf((await smtp.waitFor(email))[0]!), confirmation };
}

async function openSignUp(page: Page, email: string): Promise<void> {
  await page.goto(authorizationUrl(idp));
  await page.getByRole("link", { name: "Create an account" }).click();
  await heading(page, "Create an account");
  if (!email) return;
  await page.getByLabel("Email").fill(email);
  await button(page, "Continue");
  await heading(page, "Check your email");
}

async function chooseSignUpPassword(page: Page): Promise<void> {
  const email = `newcomer${++people}@example.com`;
  await openSignUp(page, email);
  await page.getByLabel("Code from the email").fill(codeOf((await smtp.waitFor(email))[0]!));
  await button(page, "Confirm");
  await heading(page, "Choose a password");
}

/** Each page, and the steps from a fresh browser to it. */
const PAGES: Record<string, (page: Page) => Promise<void>> = {
  "sign-in-with-code": async (page) => {
    await page.goto(authorizationUrl(idp));
    await page.getByRole("button", { name: "Email me a sign-in code" }).waitFor();
  },
  "sign-in-code-only": async (page) => {
    await page.goto(authorizationUrl(codeOnlyIdp));
    await page.getByRole("button", { name: "Email me a sign-in code" }).waitFor();
    expect(await page.getByLabel("Password").count()).toBe(0);
  },
  "code-sent": async (page) => {
    await askForCode(page, await newPerson());
    await page.locator("#confirmation-code").waitFor();
  },
  "code-sent-error": async (page) => {
    await askForCode(page, await newPerson());
    await page.getByLabel("Sign-in code").fill("12345");
    await button(page, "Sign in");
    await page.getByRole("alert").waitFor();
  },
  "sms-request": async (page) => {
    await page.goto(authorizationUrl(idp));
    await page.getByRole("link", { name: "Sign in with a code by text message" }).click();
    await heading(page, "Sign in with a text message");
  },
  "sms-request-error": async (page) => {
    await PAGES["sms-request"]!(page);
    await page.getByLabel("Phone number").fill("12");
    await button(page, "Text me a code");
    await page.getByRole("alert").waitFor();
  },
  "sms-code-sent": async (page) => {
    await PAGES["sms-request"]!(page);
    // No account has this number: the same page, and nothing is sent.
    await page.getByLabel("Phone number").fill("+49 1512 3456789");
    await button(page, "Text me a code");
    await heading(page, "Check your phone");
  },
  "link-same-browser": async (page) => {
    const email = await newPerson();
    await askForCode(page, email);
    await page.goto(linkOf((await smtp.waitFor(email))[0]!));
    await heading(page, "Continue signing in");
  },
  "link-other-browser": async (page) => {
    await page.goto((await askElsewhere()).link);
    await heading(page, "Confirm on this device");
  },
  "link-other-browser-error": async (page) => {
    await page.goto((await askElsewhere()).link);
    await page.getByLabel("Confirmation code").fill("12345");
    await button(page, "Confirm");
    await page.getByRole("alert").waitFor();
  },
  "link-approved": async (page) => {
    const { link, confirmation } = await askElsewhere();
    await page.goto(link);
    await page.getByLabel("Confirmation code").fill(confirmation);
    await button(page, "Confirm");
    await heading(page, "Confirmed");
  },
  "sign-up": async (page) => openSignUp(page, ""),
  "sign-up-sent": async (page) => openSignUp(page, `newcomer${++people}@example.com`),
  "sign-up-link": async (page) => {
    const email = `newcomer${++people}@example.com`;
    await openSignUp(page, email);
    await page.goto(linkOf((await smtp.waitFor(email))[0]!));
    await heading(page, "Confirm your email address");
  },
  "sign-up-password": chooseSignUpPassword,
  "sign-up-password-error": async (page) => {
    await chooseSignUpPassword(page);
    await page.getByLabel("New password", { exact: true }).fill("short");
    await page.getByLabel("New password again").fill("short");
    await button(page, "Create account");
    await page.getByRole("alert").waitFor();
  },
};

describe.each(Object.keys(PAGES))("the %s page in Chromium", (name) => {
  let context: BrowserContext;
  let page: Page;
  const cspViolations: string[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    context = await chromium!.newContext();
    page = await context.newPage();
    page.on("console", (message) => {
      if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
    });
    page.on("pageerror", (error) => pageErrors.push(error.message));
    await PAGES[name]!(page);
  }, 60_000);

  afterAll(async () => {
    await context?.close();
  });

  it("has no inline script, a CSRF token in every form, autocomplete on every input, no CSP violation, no script error", async () => {
    expect(await markupProblems(page)).toEqual(NO_MARKUP_PROBLEMS);
    expect(cspViolations).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  it("links every error to its field, which is marked invalid", async () => {
    const targets = await page.locator(".error-summary a").evaluateAll((links) => links.map((link) => link.getAttribute("href")!));
    expect(targets.length, "links in the error summary").toBe(name.endsWith("-error") ? 1 : 0);
    for (const href of targets) {
      const field = page.locator(href);
      expect(await field.count(), `the field ${href} exists`).toBe(1);
      expect(await field.getAttribute("aria-invalid"), `${href} is marked invalid`).toBe("true");
    }
  });

  it.each(VIEWS)("at %i px, %s: no horizontal overflow, no control too small, no serious axe violation", async (width, scheme) => {
    await page.setViewportSize({ width, height: 800 });
    await page.emulateMedia({ colorScheme: scheme });
    const artefact = `${ARTIFACTS}passwordless-${name}-${width}-${scheme}`;
    const measured = await overflow(page);
    const problems = await axeProblems(page, artefact);
    await page.screenshot({ path: `${artefact}.png`, fullPage: true });
    expect(measured.offenders, `elements past the right edge at ${width} px`).toEqual([]);
    expect(await smallControls(page), "fields and buttons too small to use").toEqual([]);
    expect(measured.scrollWidth, "document scroll width").toBeLessThanOrEqual(measured.clientWidth);
    expect(problems, "axe: serious or critical violations").toEqual([]);
  });
});
