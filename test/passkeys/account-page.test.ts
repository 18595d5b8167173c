// Passkeys on the account page in a real Chromium with the DevTools virtual authenticator: add one
// ("Add a passkey", the browser creates it), rename it, sign in to /account with it alone, remove
// it (audited); the last way in (a person without a password whose one passkey it is) cannot be
// removed. The pages are axe clean, with no CSP violation or script error.
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { BrowserContext, CDPSession, Page } from "playwright-core";
import { launchChromium, type Chromium } from "../support/chromium.ts";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { axeProblems, markupProblems, NO_MARKUP_PROBLEMS } from "../pages/page-checks.ts";
import { createPasskeys, type Passkeys } from "../../idp/accounts/passkeys.ts";
import { storesOver } from "../../idp/store/stores.ts";

const ARTIFACTS = fileURLToPath(new URL("../../test-artifacts/pages/", import.meta.url));
const PASSWORD = "violet tractor sandwich";

let idp: TestIdp;
let chromium: Chromium | undefined;
let passkeys: Passkeys;
let people = 0;

beforeAll(async () => {
  const launching = launchChromium().then((launched) => (chromium = launched));
  launching.catch(() => {});
  idp = await startTestIdp({ env: { BRAND_NAME: "Acme", SIGN_IN_METHODS: "password", SIGN_IN_LIMIT_PER_IP: "0" } });
  passkeys = createPasskeys({
    db: idp.database.db,
    stores: (queryable) => storesOver(queryable, () => new Date()),
    settings: { rpId: idp.config.webauthnRpId, origin: idp.baseUrl, rpName: idp.config.brandName },
    now: () => new Date(),
  });
  await mkdir(ARTIFACTS, { recursive: true });
  await launching;
}, 120_000);
const open: BrowserContext[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((context) => context.close()));
});
afterAll(async () => {
  await chromium?.close();
  await idp?.close();
});

type Device = { page: Page; cdp: CDPSession; problems: string[] };

/** A browser with a user-verifying platform authenticator and no passkey autofill (the button is the way). */
async function device(): Promise<Device> {
  const context = await chromium!.newContext();
  open.push(context);
  const page = await context.newPage();
  await page.addInitScript(() => (PublicKeyCredential.isConditionalMediationAvailable = async () => false));
  const problems: string[] = [];
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) problems.push(message.text());
  });
  page.on("pageerror", (error) => problems.push(error.message));
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  return { page, cdp, problems };
}

async function events(userId: string): Promise<string[]> {
  const { rows } = await idp.database.db.query<{ event: string }>("SELECT event FROM audit_events WHERE user_id = $1 AND event LIKE 'passkey.%' ORDER BY id", [userId]);
  return rows.map((row) => row.event);
}

async function checkPage(page: Page, name: string): Promise<void> {
  expect(await axeProblems(page, `${ARTIFACTS}account-${name}`)).toEqual([]);
  expect(await markupProblems(page)).toEqual(NO_MARKUP_PROBLEMS);
}

// Each test walks many pages in a browser: generous time on a loaded machine (no timing is asserted).
describe("passkeys on the account page", { timeout: 120_000 }, () => {
  it("adds, renames, signs in with and removes a passkey", async () => {
    const { page, problems } = await device();
    const email = `account-passkey${++people}@example.com`;
    const person = await idp.admin.addUser({ email, password: PASSWORD });
    await page.goto(`${idp.baseUrl}/account`);
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.waitForURL(`${idp.baseUrl}/account`);
    await page.getByText("You have no passkeys yet.").waitFor();

    await page.getByRole("link", { name: "Add a passkey" }).click();
    await page.getByRole("heading", { name: "Add a passkey", level: 1 }).waitFor();
    expect(await page.getByText("This browser cannot create passkeys here").isVisible()).toBe(false);
    await checkPage(page, "add-passkey");
    await page.getByLabel("Name").fill("Laptop");
    await page.getByRole("button", { name: "Create passkey" }).click();
    await page.getByText("The passkey was added.").waitFor();
    expect(page.url()).toBe(`${idp.baseUrl}/account#passkeys`.replace("#passkeys", "?notice=passkeyAdded#passkeys"));
    await page.getByText("Laptop", { exact: true }).waitFor();
    await checkPage(page, "passkeys");

    await page.getByLabel("Name of “Laptop”").fill("Work laptop");
    await page.getByRole("button", { name: "Rename" }).click();
    await page.getByText("The passkey was renamed.").waitFor();
    await page.getByText("Work laptop", { exact: true }).waitFor();

    // Signed out of the IdP, back in with the passkey alone.
    await page.context().clearCookies();
    await page.goto(`${idp.baseUrl}/account`);
    await page.getByRole("button", { name: "Sign in with a passkey" }).click();
    await page.waitForURL(`${idp.baseUrl}/account`);
    await page.getByText(`Signed in as ${email}`).waitFor();

    await page.getByRole("button", { name: "Remove “Work laptop”" }).click();
    await page.getByText("The passkey was removed.").waitFor();
    await page.getByText("You have no passkeys yet.").waitFor();
    expect(await events(person.id)).toEqual(["passkey.added", "passkey.renamed", "passkey.removed"]);
    expect(problems).toEqual([]);
  });

  it("keeps the last way in: a person without a password cannot remove their only passkey", async () => {
    const { page } = await device();
    const email = `passkey-only${++people}@example.com`;
    // No password (an invited or federated person could be so): the passkey is their only way in.
    const person = await storesOver(idp.database.db, () => new Date()).users.create({ email });
    // Their passkey, made on this device (as an invitation or an operator's enrolment would).
    await page.goto(`${idp.baseUrl}/healthz`);
    const options = await passkeys.registrationOptions(person.id);
    const response = await page.evaluate(async (json) => {
      const credential = (await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(json) })) as PublicKeyCredential;
      return credential.toJSON();
    }, options as unknown as PublicKeyCredentialCreationOptionsJSON);
    const registered = await passkeys.register({ userId: person.id, response: response as never, name: "Phone" });
    expect(registered.ok).toBe(true);

    await page.goto(`${idp.baseUrl}/account`);
    await page.getByRole("button", { name: "Sign in with a passkey" }).click();
    await page.waitForURL(`${idp.baseUrl}/account`);
    await page.getByText("Phone", { exact: true }).waitFor();
    expect(await page.getByRole("button", { name: "Remove “Phone”" }).count()).toBe(0);
    // A remove posted anyway (an old page, a script) is refused.
    await page.evaluate((id) => {
      const csrf = (document.querySelector('input[name="_csrf"]') as HTMLInputElement).value;
      const form = Object.assign(document.createElement("form"), { method: "post", action: `/account/passkeys/${id}/remove` });
      form.append(Object.assign(document.createElement("input"), { type: "hidden", name: "_csrf", value: csrf }));
      document.body.append(form);
      form.submit();
    }, registered.ok ? registered.passkey.id : "");
    await page.getByText("That passkey is the only way to sign in to your account, so it was not removed.").waitFor();
    expect(await passkeys.list(person.id)).toHaveLength(1);
  });
});
