// The account page's two-step verification section in a real Chromium (fixed clock for the codes):
// setting up an app (QR code, key, a code, the recovery codes shown once), new recovery codes (the
// sign-in steps up to the app's code first: a password alone does not change a factor), and removing
// the app; each audited and mailed. The new pages pass axe at 320 px with no CSP violation.
import * as OTPAuth from "otpauth";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collectCspViolations, launchChromium, type Chromium } from "../support/chromium.ts";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { axeProblems, markupProblems, NO_MARKUP_PROBLEMS } from "../pages/page-checks.ts";
import { fileURLToPath } from "node:url";
import { mkdir } from "node:fs/promises";

const ARTIFACTS = fileURLToPath(new URL("../../test-artifacts/pages/", import.meta.url));
const STEP_MS = 30_000;
let clockMs = Math.floor(Date.now() / STEP_MS) * STEP_MS + STEP_MS / 2;
const PASSWORD = "correct horse battery";
let idp: TestIdp;
let chromium: Chromium | undefined;
let context: BrowserContext;

beforeAll(async () => {
  const launching = launchChromium().then((launched) => (chromium = launched));
  launching.catch(() => {});
  await mkdir(ARTIFACTS, { recursive: true });
  idp = await startTestIdp({ now: () => new Date(clockMs), env: { SIGN_IN_LIMIT_PER_IP: "0" } });
  await idp.admin.addUser({ email: "ada@example.com", password: PASSWORD });
  await launching;
  context = await chromium!.newContext();
}, 120_000);
afterAll(async () => {
  await context?.close();
  await chromium?.close();
  await idp?.close();
});

const events = async () => (await idp.database.db.query<{ event: string }>("SELECT event FROM audit_events WHERE event LIKE 'mfa.%' ORDER BY id")).rows.map((row) => row.event);
const notices = async () => Number((await idp.database.db.query<{ n: number }>("SELECT count(*)::int AS n FROM mail_outbox WHERE template = 'security_notice'")).rows[0]!.n);

async function accessible(page: Page, name: string) {
  await page.setViewportSize({ width: 320, height: 800 });
  expect(await markupProblems(page)).toEqual(NO_MARKUP_PROBLEMS);
  expect(await axeProblems(page, `${ARTIFACTS}account-${name}-320`), `axe on ${name}`).toEqual([]);
  await page.screenshot({ path: `${ARTIFACTS}account-${name}-320.png`, fullPage: true });
}

describe("two-step verification on the account page", () => {
  it("sets up an app, makes new recovery codes after stepping up to the app's code, and removes it", async () => {
    const page = await context.newPage();
    const csp = collectCspViolations(page);
    await page.goto(`${idp.baseUrl}/account`);
    await page.getByLabel("Email").fill("ada@example.com");
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.waitForURL(`${idp.baseUrl}/account`);
    await page.getByRole("heading", { name: "Two-step verification", level: 2 }).waitFor();

    await page.getByRole("link", { name: "Set up an authenticator app" }).click();
    await page.getByRole("heading", { name: "Set up two-step verification", level: 1 }).waitFor();
    await accessible(page, "totp-enrol");
    const secret = (await page.locator("#totp-secret").textContent())!.replace(/\s/g, "");
    const code = () => OTPAuth.TOTP.generate({ secret: OTPAuth.Secret.fromBase32(secret), timestamp: clockMs });
    await page.getByLabel("Code from your app").fill(code());
    await page.getByRole("button", { name: "Turn on" }).click();
    await page.getByRole("heading", { name: "Save your recovery codes", level: 1 }).waitFor();
    expect(await page.locator("#recovery-codes li").count()).toBe(10);
    await accessible(page, "recovery-codes");
    const first = await page.locator("#recovery-codes li").allTextContents();
    await page.getByRole("link", { name: "I have saved them, continue" }).click();
    await page.getByText("The authenticator app is set up.").waitFor();
    await page.getByText("10 recovery codes left.").waitFor();
    expect(await events()).toEqual(["mfa.totp_enrolled"]);

    // The session was a password alone: new codes ask for the app's code first (step-up), nothing else.
    clockMs += STEP_MS;
    await page.getByRole("button", { name: "Make new recovery codes" }).click();
    await page.getByRole("heading", { name: "Two-step verification", level: 1 }).waitFor();
    expect(await page.getByLabel("Password").count()).toBe(0);
    await page.getByLabel("Code from your app").fill(code());
    await page.getByRole("button", { name: "Verify" }).click();
    await page.waitForURL(`${idp.baseUrl}/account`);
    await page.getByRole("button", { name: "Make new recovery codes" }).click();
    await page.getByRole("heading", { name: "Save your recovery codes", level: 1 }).waitFor();
    const second = await page.locator("#recovery-codes li").allTextContents();
    expect(second).toHaveLength(10);
    expect(second.filter((each) => first.includes(each))).toEqual([]);
    await page.getByRole("link", { name: "I have saved them, continue" }).click();

    await page.getByRole("button", { name: "Remove the authenticator app" }).click();
    await page.getByText("The authenticator app was removed, with its recovery codes.").waitFor();
    await page.getByRole("link", { name: "Set up an authenticator app" }).waitFor();
    expect(await events()).toEqual(["mfa.totp_enrolled", "mfa.recovery_codes_regenerated", "mfa.totp_removed"]);
    expect(await notices()).toBe(3);
    expect(csp).toEqual([]);
  });
});
