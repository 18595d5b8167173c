// The device authorization grant (RFC 8628) against a listening IdP: openid-client is the device
// (it asks for a code and polls), a person types the code in Chromium, confirms it, signs in with
// a password, and the device gets tokens the Convex verifier accepts. Wrong, expired and too many
// codes are answered on the page; a device that polls too fast hears slow_down, one whose code
// expired hears expired_token.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as oidc from "openid-client";
import type { Page } from "playwright-core";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { Browser } from "../support/browser.ts";
import { launchChromium, type Chromium } from "../support/chromium.ts";
import { discover } from "../support/oidc-flow.ts";
import { verifyConvexToken } from "../support/convex-verifier.ts";
import { axeProblems, markupProblems, NO_MARKUP_PROBLEMS } from "../pages/page-checks.ts";

const person = { email: "device-owner@example.com", password: "correct horse battery" };

let idp: TestIdp;
let chromium: Chromium | undefined;
let device: oidc.Configuration;
let personId: string;

beforeAll(async () => {
  const launching = launchChromium().then((launched) => (chromium = launched));
  launching.catch(() => {});
  idp = await startTestIdp({ env: { SIGN_IN_LIMIT_PER_IP: "0", DEVICE_CODE_LIMIT_PER_IP: "0", BRAND_NAME: "Acme" } });
  personId = (await idp.admin.addUser({ ...person, emailVerified: true })).id;
  await idp.admin.addClient({ id: "cli", name: "Acme CLI", public: true, firstParty: true, kind: "device", redirectUris: [] });
  device = await discover(idp.issuer, "cli");
  await launching;
}, 120_000);
afterAll(async () => {
  await chromium?.close();
  await idp?.close();
});

/** Posts to the token endpoint as the device does, once. */
async function poll(issuer: string, deviceCode: string, clientId = "cli") {
  const response = await fetch(`${issuer}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:device_code", device_code: deviceCode, client_id: clientId }),
  });
  return { status: response.status, body: (await response.json()) as { error?: string } };
}

async function expectAccessible(page: Page, what: string) {
  expect(await axeProblems(page, `/tmp/device-${what}`), what).toEqual([]);
  expect(await markupProblems(page), what).toEqual(NO_MARKUP_PROBLEMS);
}

describe("a device signs in with a code typed in a browser", () => {
  it("polls while a person enters the code, confirms it and signs in; the ID token passes Convex's checks", async () => {
    const authorization = await oidc.initiateDeviceAuthorization(device, { scope: "openid email offline_access" });
    expect(authorization.user_code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    expect(authorization.verification_uri).toBe(`${idp.issuer}/device`);
    const polled = oidc.pollDeviceAuthorizationGrant(device, authorization);
    polled.catch(() => {});

    const context = await chromium!.newContext();
    try {
      const page = await context.newPage();
      const cspViolations: string[] = [];
      page.on("console", (message) => {
        if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
      });
      await page.goto(authorization.verification_uri);
      await page.getByRole("heading", { name: "Connect a device" }).waitFor();
      await expectAccessible(page, "code");
      await page.getByLabel("Code").fill(authorization.user_code.toLowerCase().replace("-", " "));
      await page.getByRole("button", { name: "Continue" }).click();

      await page.getByRole("heading", { name: "Connect Acme CLI?" }).waitFor();
      expect(await page.locator("#user-code").textContent()).toBe(authorization.user_code);
      await expectAccessible(page, "confirm");
      await page.getByRole("button", { name: "Connect" }).click();

      await page.getByLabel("Email").fill(person.email);
      await page.getByLabel("Password").fill(person.password);
      await page.getByRole("button", { name: "Sign in", exact: true }).click();
      await page.getByRole("heading", { name: "Device connected" }).waitFor();
      expect(await page.getByRole("status").textContent()).toContain("Acme CLI is signed in on your device");
      await expectAccessible(page, "success");
      expect(cspViolations).toEqual([]);
    } finally {
      await context.close();
    }

    const tokens = await polled;
    expect(tokens.refresh_token).toBeTypeOf("string");
    const identity = await verifyConvexToken(tokens.id_token!, [
      { type: "customJwt", issuer: idp.issuer, jwks: `${idp.issuer}/jwks`, algorithm: "RS256", applicationID: "cli" },
    ]);
    expect(identity).toMatchObject({ tokenIdentifier: `${idp.issuer}|${personId}`, email: person.email });
    await verifyConvexToken(tokens.id_token!, [{ domain: idp.issuer, applicationID: "cli" }]);
  }, 60_000);

  it("shows the code from the device's link filled in, without a script", async () => {
    const authorization = await oidc.initiateDeviceAuthorization(device, { scope: "openid" });
    const context = await chromium!.newContext();
    try {
      const page = await context.newPage();
      await page.goto(authorization.verification_uri_complete!);
      await page.getByRole("heading", { name: "Connect a device" }).waitFor();
      expect(await page.getByLabel("Code").inputValue()).toBe(authorization.user_code);
      expect(await markupProblems(page)).toEqual(NO_MARKUP_PROBLEMS);
      await page.getByRole("button", { name: "Continue" }).click();
      await page.getByRole("heading", { name: "Connect Acme CLI?" }).waitFor();
      // Cancelled: the device hears access_denied.
      await page.getByRole("button", { name: "Cancel" }).click();
      await page.getByText("Cancelled: the device was not connected.").waitFor();
    } finally {
      await context.close();
    }
    expect((await poll(idp.issuer, authorization.device_code)).body.error).toBe("access_denied");
  });

  it("answers a wrong code on the page, in the person's language, and connects nothing", async () => {
    const context = await chromium!.newContext();
    try {
      const page = await context.newPage();
      await page.setExtraHTTPHeaders({ "accept-language": "de" });
      await page.goto(`${idp.issuer}/device`);
      await page.getByLabel("Code").fill("BBBB-BBBB");
      const [response] = await Promise.all([page.waitForResponse((r) => r.request().method() === "POST"), page.getByRole("button", { name: "Weiter" }).click()]);
      expect(response.status()).toBe(400);
      await page.getByRole("alert").getByText("Dieser Code stimmt nicht.").waitFor();
      expect(await page.getByLabel("Code").getAttribute("aria-invalid")).toBe("true");
      await expectAccessible(page, "wrong-code");
    } finally {
      await context.close();
    }
  });

  it("refuses a code entry without the page's xsrf token", async () => {
    const authorization = await oidc.initiateDeviceAuthorization(device, { scope: "openid" });
    const browser = new Browser();
    await browser.request(`${idp.issuer}/device`);
    const forged = await browser.request(`${idp.issuer}/device`, { form: { xsrf: "forged", user_code: authorization.user_code, confirm: "yes" } });
    expect(forged.status).toBe(400);
    expect(forged.html).toContain("The form has expired");
    expect((await poll(idp.issuer, authorization.device_code)).body.error).toBe("authorization_pending");
  });

  it("tells a device that polls sooner than every 5 seconds to slow down", async () => {
    const authorization = await oidc.initiateDeviceAuthorization(device, { scope: "openid" });
    expect(await poll(idp.issuer, authorization.device_code)).toEqual({ status: 400, body: expect.objectContaining({ error: "authorization_pending" }) });
    expect(await poll(idp.issuer, authorization.device_code)).toEqual({ status: 400, body: expect.objectContaining({ error: "slow_down" }) });
    // Another device's polls are its own.
    const other = await oidc.initiateDeviceAuthorization(device, { scope: "openid" });
    expect((await poll(idp.issuer, other.device_code)).body.error).toBe("authorization_pending");
  });
});

describe("limits", () => {
  let short: TestIdp;
  beforeAll(async () => {
    short = await startTestIdp({ env: { DEVICE_CODE_TTL: "1" } });
    await short.admin.addClient({ id: "cli", public: true, firstParty: true, kind: "device", redirectUris: [] });
  });
  let limited: TestIdp;
  beforeAll(async () => {
    limited = await startTestIdp({ env: { DEVICE_CODE_LIMIT_PER_IP: "3" } });
  });
  afterAll(async () => {
    await short?.close();
    await limited?.close();
  });

  it("expires a code: the device hears expired_token, the person is told on the page", async () => {
    const config = await discover(short.issuer, "cli");
    const authorization = await oidc.initiateDeviceAuthorization(config, { scope: "openid" });
    expect(authorization.expires_in).toBe(1);
    // openid-client gives up by itself once expires_in has passed: the device here polls by hand,
    // once the code's one second is over (the provider's clock is the system's).
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await poll(short.issuer, authorization.device_code)).toEqual({ status: 400, body: expect.objectContaining({ error: "expired_token" }) });
    const browser = new Browser();
    const page = await browser.request(`${short.issuer}/device`);
    const answered = await browser.submit(page, "/device", { user_code: authorization.user_code });
    expect(answered.status).toBe(400);
    expect(answered.html).toContain("That code has expired.");
  }, 20_000);

  it("counts code entries per address: over DEVICE_CODE_LIMIT_PER_IP, 429 until the window ends", async () => {
    const browser = new Browser();
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 4; attempt++) {
      const page = await browser.request(`${limited.issuer}/device`);
      statuses.push((await browser.submit(page, "/device", { user_code: "BBBB-BBBB" })).status);
    }
    expect(statuses).toEqual([400, 400, 400, 429]);
    // The code page itself is still shown: only entries count.
    expect((await browser.request(`${limited.issuer}/device`)).status).toBe(200);
  });
});

describe("registering a device client", () => {
  it("takes no redirect URI and no secret", async () => {
    await expect(idp.admin.addClient({ id: "tv", public: true, firstParty: false, kind: "device", redirectUris: ["https://tv.example.com/cb"] })).rejects.toThrow(/no redirect URIs/);
    const { client, secret } = await idp.admin.addClient({ id: "tv", public: false, firstParty: false, kind: "device", redirectUris: [] });
    expect(secret).toBeUndefined();
    expect(client.kind).toBe("device");
  });

  it("cannot use the authorization code flow", async () => {
    const response = await fetch(`${idp.issuer}/auth?client_id=cli&response_type=code&scope=openid&redirect_uri=http://127.0.0.1/cb`, { redirect: "manual" });
    expect(response.status).toBe(400);
  });
});
