// Creating a user through the admin API without a password invites them: with SIGN_UP=invite and a
// mail server, the answer is 202, the person gets the invitation mail, and accepting it creates the
// account with the roles the operator gave; the link works once, and not after it expired.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as oidc from "openid-client";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { invitationToken, TestMailServer } from "../support/smtp.ts";
import { discover } from "../support/oidc-flow.ts";
import { Browser } from "../support/browser.ts";

const PASSWORD = "violet tractor sandwich";
let idp: TestIdp;
let smtp: TestMailServer;
let token: string;
let clockOffsetMs = 0;

beforeAll(async () => {
  smtp = await TestMailServer.start();
  idp = await startTestIdp({
    now: () => new Date(Date.now() + clockOffsetMs),
    env: { SIGN_UP: "invite", SMTP_URL: smtp.url(), BRAND_NAME: "Acme", MAIL_POLL_INTERVAL_MS: "100", SIGN_IN_DELAY_MAX_MS: "0" },
  });
  const secret = (await idp.admin.addClient({ id: "ops", service: true, public: false, firstParty: false, redirectUris: [], scopes: ["admin:users:write", "admin:audit:read"] })).secret!;
  token = (await oidc.clientCredentialsGrant(await discover(idp.issuer, "ops", secret))).access_token;
}, 60_000);
afterAll(async () => {
  await idp?.close();
  await smtp?.stop();
});

const invite = (email: string) =>
  fetch(`${idp.baseUrl}/admin/api/v1/users`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ email, name: "Ivy", roles: ["editor", "billing"] }),
  });

async function accept(link: string) {
  const browser = new Browser();
  const page = await browser.request(link);
  if (page.status !== 200) return page;
  return browser.submit(page, new URL(link).pathname, { password: PASSWORD, repeat: PASSWORD });
}

describe("POST /admin/api/v1/users without a password", () => {
  it("invites by mail (202); the account it creates has the roles; the link works once", async () => {
    const answer = await invite("ivy@example.com");
    expect(answer.status).toBe(202);
    expect((await answer.json()).invitation).toMatchObject({ email: "ivy@example.com", roles: ["billing", "editor"] });
    expect(await idp.admin.users.findByEmail("ivy@example.com")).toBeUndefined();

    const link = `${idp.baseUrl}/invite/${invitationToken((await smtp.waitFor("ivy@example.com"))[0]!)}`;
    await accept(link);
    const user = await idp.admin.users.findByEmail("ivy@example.com");
    expect(user).toMatchObject({ name: "Ivy", emailVerified: true, roles: ["billing", "editor"] });

    const again = await new Browser().request(link);
    expect(again.status).toBeGreaterThanOrEqual(400);
    const { rows } = await idp.database.db.query<{ actor: string; details: Record<string, unknown> }>("SELECT actor, details FROM audit_events WHERE event = 'user.invited' AND email = $1", [
      "ivy@example.com",
    ]);
    expect(rows).toEqual([expect.objectContaining({ actor: "client:ops", details: expect.objectContaining({ roles: "billing,editor" }) })]);
  });

  it("an expired invitation creates nobody", async () => {
    expect((await invite("late@example.com")).status).toBe(202);
    const link = `${idp.baseUrl}/invite/${invitationToken((await smtp.waitFor("late@example.com"))[0]!)}`;
    clockOffsetMs = 8 * 86_400_000;
    try {
      await accept(link);
    } finally {
      clockOffsetMs = 0;
    }
    expect(await idp.admin.users.findByEmail("late@example.com")).toBeUndefined();
  });
});
