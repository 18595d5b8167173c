// The sign-up spam fields in a real Chromium, on a small page served by a real listening Fastify
// server with the IdP's security headers, stylesheet and widget routes (a stand-in for the sign-up
// route, which is not built here): under the page's CSP the widget solves in the background with
// no click and no violation, the server verifies its solution and refuses it the second time, the
// honeypot is off-screen and the page axe-clean, and without script the form still goes through,
// counted double.
import type { AddressInfo } from "node:net";
import Fastify, { type FastifyInstance } from "fastify";
import formbody from "@fastify/formbody";
import { AxeBuilder } from "@axe-core/playwright";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../idp/config.ts";
import type { SignUpCheck, SignUpGuard } from "../../idp/abuse/sign-up-guard.ts";
import { loadPageAssets, pageAssetRoutes } from "../../idp/http/page-assets.ts";
import { createSignUpProtection } from "../../idp/http/sign-up-protection.ts";
import { securityHeaders, setPagePolicy } from "../../idp/http/security-headers.ts";
import { html } from "../../idp/pages/html.ts";
import { field, layout, primaryButton } from "../../idp/pages/layout.ts";
import { signUpFields } from "../../idp/pages/sign-up-fields.ts";
import { createPostgresRateLimitStore } from "../../idp/store/rate-limits.ts";
import { collectCspViolations, launchChromium, type Chromium } from "../support/chromium.ts";
import { createPostgresTestDatabase, type TestDatabase } from "../support/database.ts";
import { parseCsp } from "../hardening/recording-browser.ts";

const now = () => new Date();

let database: TestDatabase;
let app: FastifyInstance;
let origin: string;
let guard: SignUpGuard;
let chromium: Chromium | undefined;
const contexts: BrowserContext[] = [];
/** What the stand-in route received and how the guard judged it, in order. */
const posts: { body: Record<string, string>; result: SignUpCheck }[] = [];

async function startServer(): Promise<void> {
  const config = loadConfig({ SIGN_UP_PROOF_OF_WORK: "true", SIGN_UP_MIN_FORM_SECONDS: "0", SIGN_UP_BLOCKED_DOMAINS: "blocked.example" });
  const assets = await loadPageAssets(config);
  // Built as app.ts builds it, with the real difficulty: the test shows it solves in a browser (its time is not measured).
  const protection = await createSignUpProtection({ config, cookieKeys: ["test-cookie-key"], store: createPostgresRateLimitStore(database.db, now), now });
  guard = protection.guard;

  app = Fastify({ logger: false });
  await securityHeaders(app, { issuer: config.issuer, imageOrigins: [] });
  await app.register(formbody);
  pageAssetRoutes(app, assets);
  protection.routes(app);
  app.get("/sign-up", async (request, reply) => {
    const view = assets.views.forRequest({ acceptLanguage: request.headers["accept-language"] });
    setPagePolicy(reply, { proofOfWorkWidget: true });
    const body = html`<h1>Create an account</h1>
<form method="post" action="/sign-up" novalidate>
${field({ id: "email", label: view.t("login.email"), type: "email", autocomplete: "email" })}
${signUpFields(view, guard.formFields())}
${primaryButton("Continue")}
</form>`;
    return reply.type("text/html; charset=utf-8").send(layout(view, { title: "Create an account", body }));
  });
  app.post<{ Body: Record<string, string> }>("/sign-up", async (request, reply) => {
    const result = await guard.check(request.body, request.body.email ?? "");
    posts.push({ body: request.body, result });
    return reply.type("text/html; charset=utf-8").send(`<!doctype html><title>Result</title><p id="result">${JSON.stringify(result)}</p>`);
  });
  await app.listen({ port: 0, host: "127.0.0.1" });
  origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  const launching = launchChromium({ actionTimeoutMs: 30_000 }).then((launched) => (chromium = launched));
  launching.catch(() => {});
  database = await createPostgresTestDatabase();
  await startServer();
  await launching;
}, 120_000);

afterEach(async () => {
  await Promise.all(contexts.splice(0).map((context) => context.close()));
});

afterAll(async () => {
  await chromium?.close();
  await app?.close();
  await database?.destroy();
});

async function openPage(options: { javaScriptEnabled?: boolean } = {}): Promise<{ page: Page; violations: string[]; errors: string[] }> {
  const context = await chromium!.browser.newContext({ javaScriptEnabled: options.javaScriptEnabled ?? true });
  context.setDefaultTimeout(30_000);
  contexts.push(context);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  return { page, violations: collectCspViolations(page), errors };
}

/** The widget's solution once it has one (it fills its hidden input when solved). */
async function solution(page: Page): Promise<string> {
  const handle = await page.waitForFunction(() => document.querySelector<HTMLInputElement>('altcha-widget input[name="altcha"]')?.value || false, undefined, {
    timeout: 60_000,
  });
  return String(await handle.jsonValue());
}

describe("the sign-up form's proof of work in Chromium", () => {
  it("serves the page with a policy that admits only the IdP's own script, worker and fetch", async () => {
    const response = await fetch(`${origin}/sign-up`);
    const csp = parseCsp(response.headers.get("content-security-policy"));
    expect(csp.get("script-src")).toEqual(["'self'"]);
    expect(csp.get("worker-src")).toEqual(["'self'"]);
    expect(csp.get("connect-src")).toEqual(["'self'"]);
    expect(csp.get("style-src")).toEqual(["'self'"]);
    expect(csp.get("default-src")).toEqual(["'none'"]);
    const page = await response.text();
    expect(page).not.toMatch(/<script(?![^>]*\bsrc=)/); // no inline script
    expect(page).not.toMatch(/\sstyle=/); // no inline style
  });

  it("solves in the background without a click, and the server accepts the solution once", async () => {
    const { page, violations, errors } = await openPage();
    const workers: string[] = [];
    page.on("worker", (worker) => workers.push(worker.url()));
    await page.goto(`${origin}/sign-up`);
    const payload = await solution(page);
    expect(workers.length).toBeGreaterThan(0);
    expect(workers.every((url) => url.startsWith(`${origin}/assets/altcha-pbkdf2.js?v=`))).toBe(true);

    // Nothing of it shows: the widget is hidden, the honeypot off-screen; the page is axe-clean.
    expect(await page.locator("altcha-widget").isVisible()).toBe(false);
    const trap = await page.locator("#sign-up-trap").boundingBox();
    expect(trap!.x + trap!.width).toBeLessThanOrEqual(0);
    const axe = await new AxeBuilder({ page }).analyze();
    expect(axe.violations.filter((violation) => violation.impact === "serious" || violation.impact === "critical").map((violation) => violation.id)).toEqual([]);

    await page.getByLabel("Email").fill("ada@example.com");
    await page.getByRole("button", { name: "Continue" }).click();
    await page.locator("#result").waitFor();
    expect(JSON.parse((await page.locator("#result").textContent())!)).toEqual({ ok: true, limitWeight: 1 });
    const posted = posts.at(-1)!.body;
    expect(posted.altcha).toBe(payload);
    expect(posted.website).toBe("");
    expect(violations).toEqual([]);
    expect(errors).toEqual([]);

    // The same solution again, with a fresh stamp: refused.
    const again = await guard.check({ ...posted, form_stamp: guard.formFields().stamp.value }, "ada@example.com");
    expect(again).toEqual({ ok: false, reason: "proof_of_work" });
  });

  it("still signs up without script: no solution, counted double", async () => {
    const { page } = await openPage({ javaScriptEnabled: false });
    await page.goto(`${origin}/sign-up`);
    await page.getByLabel("Email").fill("grace@example.com");
    await page.getByRole("button", { name: "Continue" }).click();
    await page.locator("#result").waitFor();
    expect(JSON.parse((await page.locator("#result").textContent())!)).toEqual({ ok: true, limitWeight: 2 });
    expect(posts.at(-1)!.body).not.toHaveProperty("altcha");
  });

  it("refuses the shipped disposable domains and the operator's, before looking at the proof of work", async () => {
    const { page } = await openPage({ javaScriptEnabled: false });
    for (const email of ["x@Mailinator.com", "x@mail.blocked.example"]) {
      await page.goto(`${origin}/sign-up`);
      await page.getByLabel("Email").fill(email);
      await page.getByRole("button", { name: "Continue" }).click();
      await page.locator("#result").waitFor();
      expect(JSON.parse((await page.locator("#result").textContent())!), email).toEqual({ ok: false, reason: "disposable_domain" });
    }
  });

  it("refuses a form whose solution was altered in the page", async () => {
    const { page } = await openPage();
    await page.goto(`${origin}/sign-up`);
    const payload = await solution(page);
    const altered = JSON.parse(Buffer.from(payload, "base64").toString("utf8"));
    altered.solution.derivedKey = "00".repeat(32);
    await page.locator('altcha-widget input[name="altcha"]').evaluate((input, value) => ((input as HTMLInputElement).value = value), Buffer.from(JSON.stringify(altered)).toString("base64"));
    await page.getByLabel("Email").fill("ada@example.com");
    await page.getByRole("button", { name: "Continue" }).click();
    await page.locator("#result").waitFor();
    expect(JSON.parse((await page.locator("#result").textContent())!)).toEqual({ ok: false, reason: "proof_of_work" });
  });
});
