// Revocations through a real, listening IdP with openid-client as the relying party: revoking a
// token, reusing a rotated refresh token (after the grace window, on an injected clock), reusing a
// code and signing out each leave the expected audit row, written before the response arrives.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import * as oidc from "openid-client";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { Browser } from "../support/browser.ts";
import { discover, exchange, signIn, startAuthorization, POST_LOGOUT_URI, REDIRECT_URI } from "../support/oidc-flow.ts";

const alice = { email: "alice@example.com", password: "violet tractor sandwich" };

let idp: TestIdp;
let web: oidc.Configuration;
let aliceId: string;
let clockOffsetMs = 0;
let seen = 0;

type Row = { event: string; actor: string; user_id: string | null; client_id: string | null; ip: string | null; details: Record<string, unknown> };

/** The revocation rows written since the last call (sign-in events are another suite's business). */
async function newRevocationRows(): Promise<Row[]> {
  const { rows } = await idp.database.db.query<Row & { id: string }>("SELECT * FROM audit_events WHERE id > $1 ORDER BY id", [seen]);
  if (rows.length > 0) seen = Number(rows.at(-1)!.id);
  return rows
    .filter((row) => row.event === "token.revoked" || row.event === "grant.revoked")
    .map(({ event, actor, user_id, client_id, ip, details }) => ({ event, actor, user_id, client_id, ip, details }));
}

beforeAll(async () => {
  idp = await startTestIdp({ now: () => new Date(Date.now() + clockOffsetMs) });
  aliceId = (await idp.admin.addUser(alice)).id;
  await idp.admin.addClient({
    id: "web",
    public: true,
    firstParty: true,
    redirectUris: [REDIRECT_URI],
    postLogoutRedirectUris: [POST_LOGOUT_URI],
  });
  web = await discover(idp.issuer, "web");
});

afterAll(async () => idp?.close());

beforeEach(async () => {
  clockOffsetMs = 0;
  await newRevocationRows();
});

async function signedIn(scope = "openid email offline_access") {
  const browser = new Browser();
  const start = await startAuthorization(web, { scope, prompt: "consent" });
  const page = await signIn(browser, start, alice);
  expect(page.url.startsWith(REDIRECT_URI), page.html.slice(0, 300)).toBe(true);
  return { browser, start, callbackUrl: page.url, tokens: await exchange(web, start, page.url) };
}

async function expectInvalidGrant(promise: Promise<unknown>) {
  const failure = await promise.then(
    () => expect.fail("expected invalid_grant"),
    (reason: { error?: string }) => reason,
  );
  expect(failure.error).toBe("invalid_grant");
}

const byClient = (event: string, details: Record<string, unknown>) => ({
  event,
  actor: "client:web",
  user_id: aliceId,
  client_id: "web",
  ip: "127.0.0.1",
  details,
});

describe("revocation audit events", () => {
  it("revoking a refresh token records token.revoked and the grant it revokes", async () => {
    const { tokens } = await signedIn();
    await newRevocationRows(); // nothing from the sign-in itself
    await oidc.tokenRevocation(web, tokens.refresh_token!);
    expect(await newRevocationRows()).toEqual([
      byClient("token.revoked", { token_type: "refresh_token" }),
      byClient("grant.revoked", { reason: "token_revoked" }),
    ]);
    await expectInvalidGrant(oidc.refreshTokenGrant(web, tokens.refresh_token!));
  });

  it("revoking an access token records token.revoked only: the grant itself stays", async () => {
    const { tokens } = await signedIn();
    await newRevocationRows();
    await oidc.tokenRevocation(web, tokens.access_token);
    expect(await newRevocationRows()).toEqual([byClient("token.revoked", { token_type: "access_token" })]);
    // oidc-provider also revokes the grant's other tokens (here the refresh token), but keeps the grant.
    await expectInvalidGrant(oidc.refreshTokenGrant(web, tokens.refresh_token!));
    expect(await newRevocationRows()).toEqual([]);
  });

  it("the revocation response waits for its audit rows", async () => {
    const { tokens } = await signedIn();
    await newRevocationRows();
    // Hold a lock that blocks inserts into audit_events until this test lets go.
    const locker = await idp.database.db.pool.connect();
    let responded = false;
    try {
      await locker.query("BEGIN");
      await locker.query("LOCK TABLE audit_events IN EXCLUSIVE MODE");
      const revocation = oidc.tokenRevocation(web, tokens.refresh_token!).finally(() => (responded = true));
      // Once the insert waits for the lock, the response must not have been sent.
      for (let waiting = 0; waiting === 0; ) {
        const { rows } = await idp.database.db.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO audit_events%'",
        );
        waiting = rows[0]!.n;
      }
      // A request sent now is answered after one already on its way back (were it not held up).
      expect((await fetch(`${idp.baseUrl}/healthz`)).status).toBe(200);
      expect(responded).toBe(false);
      await locker.query("COMMIT");
      await revocation;
    } finally {
      await locker.query("ROLLBACK").catch(() => {});
      locker.release();
    }
    // Both inserts waited for the lock on their own connections: either may have gone first.
    expect((await newRevocationRows()).map((row) => row.event).sort()).toEqual(["grant.revoked", "token.revoked"]);
  });

  it("revoking an unknown token records nothing", async () => {
    await oidc.tokenRevocation(web, "not-a-token-this-idp-issued");
    expect(await newRevocationRows()).toEqual([]);
  });

  it("a rotated refresh token reused within the grace window revokes nothing and records nothing", async () => {
    const { tokens } = await signedIn();
    await oidc.refreshTokenGrant(web, tokens.refresh_token!);
    await expectInvalidGrant(oidc.refreshTokenGrant(web, tokens.refresh_token!));
    expect(await newRevocationRows()).toEqual([]);
  });

  it("a rotated refresh token reused after the grace window records grant.revoked for refresh_token_reuse", async () => {
    const { tokens } = await signedIn();
    const rotated = await oidc.refreshTokenGrant(web, tokens.refresh_token!);
    await newRevocationRows();
    clockOffsetMs = (idp.config.refreshTokenReuseGraceSeconds + 1) * 1000;
    await expectInvalidGrant(oidc.refreshTokenGrant(web, tokens.refresh_token!));
    expect(await newRevocationRows()).toEqual([byClient("grant.revoked", { reason: "refresh_token_reuse" })]);
    await expectInvalidGrant(oidc.refreshTokenGrant(web, rotated.refresh_token!)); // the grant is gone
  });

  it("a reused authorization code records grant.revoked for authorization_code_reuse", async () => {
    const { start, callbackUrl } = await signedIn();
    await newRevocationRows();
    await expectInvalidGrant(exchange(web, start, callbackUrl));
    const rows = await newRevocationRows();
    expect(rows).toEqual([{ ...byClient("grant.revoked", { reason: "authorization_code_reuse" }), user_id: null }]);
  });

  it("signing out records grant.revoked for logout, by the user", async () => {
    const { browser, tokens } = await signedIn("openid email");
    await newRevocationRows();
    const endSession = oidc.buildEndSessionUrl(web, { client_id: "web", post_logout_redirect_uri: POST_LOGOUT_URI });
    const confirm = await browser.follow(endSession.toString());
    const done = await browser.submit(confirm, "/session/end/confirm", { logout: "yes" }, (url) => url.startsWith(POST_LOGOUT_URI));
    expect(done.url.startsWith(POST_LOGOUT_URI)).toBe(true);
    expect(await newRevocationRows()).toEqual([{ ...byClient("grant.revoked", { reason: "logout" }), actor: `user:${aliceId}` }]);
    await expectInvalidGrant(oidc.refreshTokenGrant(web, tokens.refresh_token!));
  });

  it("signing out without the page (a valid id_token_hint) records the same", async () => {
    const { browser, tokens } = await signedIn("openid email");
    await newRevocationRows();
    const endSession = oidc.buildEndSessionUrl(web, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: POST_LOGOUT_URI });
    const done = await browser.request(endSession.toString());
    expect(done.location?.startsWith(POST_LOGOUT_URI)).toBe(true);
    expect(await newRevocationRows()).toEqual([{ ...byClient("grant.revoked", { reason: "logout" }), actor: `user:${aliceId}` }]);
    await expectInvalidGrant(oidc.refreshTokenGrant(web, tokens.refresh_token!));
  });
});
