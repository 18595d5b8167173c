// The second-factor pages in a real Chromium, each reached by the steps a person takes (MFA=required,
// fixed clock): setting up an app (QR code drawn as SVG, the key as text) and its error state, the
// recovery codes shown once, the code form and its error state, the recovery code form. At 320 and
// 1280 px, light and dark: no horizontal overflow, no serious or critical axe violation, no control
// too small; no inline script, a CSRF token in every form, no CSP violation or script error.
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import * as OTPAuth from "otpauth";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium, type Chromium } from "../support/chromium.ts";
import { Browser } from "../support/browser.ts";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { authorizationQuery, REDIRECT_URI } from "../support/oidc-flow.ts";
import { axeProblems, markupProblems, NO_MARKUP_PROBLEMS, overflow, smallControls } from "../pages/page-checks.ts";

const ARTIFACTS = fileURLToPath(new URL("../../test-artifacts/pages/", import.meta.url));
const VIEWS = [320, 1280].flatMap((width) => (["light", "dark"] as const).map((scheme) => [width, scheme] as const));
const STEP_MS = 30_000;
let clockMs = Math.floor(Date.now() / STEP_MS) * STEP_MS + STEP_MS / 2;
const codeFor = (secret: string) => OTPAuth.TOTP.generate({ secret: OTPAuth.Secret.fromBase32(secret), timestamp: clockMs });
const password = "correct horse battery";

let idp: TestIdp;
let chromium: Chromium | undefined;
let people = 0;
const authorizationUrl = () => `${idp.issuer}/auth?${authorizationQuery({ scope: "openid email", state: "state-1", nonce: "nonce-1" })}`;

beforeAll(async () => {
  const launching = launchChromium().then((launched) => (chromium = launched));
  launching.catch(() => {});
  await mkdir(ARTIFACTS, { recursive: true });
  idp = await startTestIdp({ now: () => new Date(clockMs), env: { MFA: "required", SIGN_IN_LIMIT_PER_IP: "0", LOCKOUT_THRESHOLD: "100" } });
  await idp.admin.addClient({ id: "web", name: "Web App", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
  await launching;
}, 120_000);
afterAll(async () => {
  await chromium?.close();
  await idp?.close();
});

async function newPerson(): Promise<string> {
  const email = `second${++people}@example.com`;
  await idp.admin.addUser({ email, password });
  return email;
}

/** A person who set up an app already (over plain HTTP): their email and key. */
async function enrolledPerson(): Promise<{ email: string; secret: string }> {
  const email = await newPerson();
  const browser = new Browser();
  const login = await browser.follow(authorizationUrl());
  const enrol = await browser.submit(login, "/login", { email, password });
  const secret = /id="totp-secret">([A-Z2-7 ]+)</.exec(enrol.html)![1]!.replace(/ /g, "");
  await browser.submit(enrol, "/second-factor/enrol", { code: codeFor(secret) });
  clockMs += STEP_MS; // the code is used: the next one comes a step later
  return { email, secret };
}

const heading = (page: Page, name: string) => page.getByRole("heading", { name, level: 1 }).waitFor();
const button = (page: Page, name: string) => page.getByRole("button", { name, exact: true }).click();

async function signInWithPassword(page: Page, email: string): Promise<void> {
  await page.goto(authorizationUrl());
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await button(page, "Sign in");
}

async function openEnrolment(page: Page): Promise<void> {
  await signInWithPassword(page, await newPerson());
  await heading(page, "Set up two-step verification");
}

const PAGES: Record<string, (page: Page) => Promise<void>> = {
  enrol: async (page) => {
    await openEnrolment(page);
    expect(await page.getByRole("img", { name: "QR code for your authenticator app" }).count()).toBe(1);
  },
  "enrol-error": async (page) => {
    await openEnrolment(page);
    await page.getByLabel("Code from your app").fill("000000");
    await button(page, "Turn on");
    await page.getByRole("alert").waitFor();
  },
  "recovery-codes": async (page) => {
    await openEnrolment(page);
    const secret = (await page.locator("#totp-secret").textContent())!.replace(/\s/g, "");
    await page.getByLabel("Code from your app").fill(codeFor(secret));
    await button(page, "Turn on");
    await heading(page, "Save your recovery codes");
    expect(await page.locator("#recovery-codes li").count()).toBe(10);
    clockMs += STEP_MS;
  },
  totp: async (page) => {
    await signInWithPassword(page, (await enrolledPerson()).email);
    await heading(page, "Two-step verification");
  },
  "totp-error": async (page) => {
    await PAGES.totp!(page);
    await page.getByLabel("Code from your app").fill("000000");
    await button(page, "Verify");
    await page.getByRole("alert").waitFor();
  },
  recovery: async (page) => {
    await PAGES.totp!(page);
    await page.getByRole("link", { name: "Use a recovery code instead" }).click();
    await page.getByLabel("Recovery code").waitFor();
  },
};

describe.each(Object.keys(PAGES))("the second-factor %s page in Chromium", (name) => {
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
  afterAll(async () => context?.close());

  it("has no inline script, a CSRF token in every form, autocomplete on every input, no CSP violation, no script error", async () => {
    expect(await markupProblems(page)).toEqual(NO_MARKUP_PROBLEMS);
    expect(cspViolations).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  it("links every error to its field, which is marked invalid", async () => {
    const targets = await page.locator(".error-summary a").evaluateAll((links) => links.map((link) => link.getAttribute("href")!));
    expect(targets.length, "links in the error summary").toBe(name.endsWith("-error") ? 1 : 0);
    for (const href of targets) expect(await page.locator(href).getAttribute("aria-invalid")).toBe("true");
  });

  it.each(VIEWS)("at %i px, %s: no horizontal overflow, no control too small, no serious axe violation", async (width, scheme) => {
    await page.setViewportSize({ width, height: 800 });
    await page.emulateMedia({ colorScheme: scheme });
    const artefact = `${ARTIFACTS}second-factor-${name}-${width}-${scheme}`;
    const measured = await overflow(page);
    const problems = await axeProblems(page, artefact);
    await page.screenshot({ path: `${artefact}.png`, fullPage: true });
    expect(measured.offenders, `elements past the right edge at ${width} px`).toEqual([]);
    expect(await smallControls(page), "fields and buttons too small to use").toEqual([]);
    expect(measured.scrollWidth).toBeLessThanOrEqual(measured.clientWidth);
    expect(problems, "axe: serious or critical violations").toEqual([]);
  });
});
