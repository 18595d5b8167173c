// The payload store's sign-outs behind the account page (store/oidc-payloads.ts): one session with
// the grants it holds and their tokens, every session but the current one (offline grants too), one
// grant; never another person's rows. Against PostgreSQL and the embedded database.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createOidcPayloadStore, type OidcPayloadStore } from "../../idp/store/oidc-payloads.ts";
import { testDatabases, type TestDatabase } from "../support/database.ts";

describe.each(testDatabases)("account sign-outs in the payload store ($kind)", ({ create }) => {
  let database: TestDatabase;
  let payloads: OidcPayloadStore;

  beforeAll(async () => {
    database = await create();
    payloads = createOidcPayloadStore(database.db);
  }, 120_000);
  afterAll(async () => database?.destroy());
  beforeEach(async () => {
    await database.db.query("DELETE FROM oidc_payloads");
  });

  const iat = () => Math.floor(Date.now() / 1000);
  /** A session holding grants (clientId → grantId), each grant with a refresh and an access token. */
  async function session(accountId: string, uid: string, grants: Record<string, string>) {
    const authorizations = Object.fromEntries(Object.entries(grants).map(([clientId, grantId]) => [clientId, { sid: `sid-${uid}`, grantId }]));
    await payloads.upsert("Session", `jti-${uid}`, { accountId, uid, loginTs: iat(), iat: iat(), authorizations }, 3600);
    for (const [clientId, grantId] of Object.entries(grants)) await grant(accountId, clientId, grantId);
  }
  async function grant(accountId: string, clientId: string, grantId: string) {
    await payloads.upsert("Grant", grantId, { jti: grantId, accountId, clientId, iat: iat() }, 3600);
    await payloads.upsert("RefreshToken", `rt-${grantId}`, { accountId, clientId, grantId }, 3600);
    await payloads.upsert("AccessToken", `at-${grantId}`, { accountId, clientId, grantId }, 3600);
  }
  const remaining = async () =>
    (await database.db.query<{ model: string; id: string }>("SELECT model, id FROM oidc_payloads ORDER BY model, id")).rows.map((row) => `${row.model}:${row.id}`);

  it("signs out of one session: the session, its grants and their tokens; other sessions and people stay", async () => {
    await session("alice", "here", { web: "g-here" });
    await session("alice", "there", { web: "g-there", cli: "g-cli" });
    await session("bob", "bobs", { web: "g-bob" });
    expect((await payloads.listByAccountId("Session", "alice")).map((row) => row.uid).sort()).toEqual(["here", "there"]);

    expect(await payloads.revokeSessions("alice", { uid: "there" })).toBe(7);
    expect(await remaining()).toEqual([
      "AccessToken:at-g-bob",
      "AccessToken:at-g-here",
      "Grant:g-bob",
      "Grant:g-here",
      "RefreshToken:rt-g-bob",
      "RefreshToken:rt-g-here",
      "Session:jti-bobs",
      "Session:jti-here",
    ]);
    // Another person's session is not theirs to end.
    expect(await payloads.revokeSessions("alice", { uid: "bobs" })).toBe(0);
    expect(await remaining()).toContain("Session:jti-bobs");
  });

  it("signs out everywhere but here: every other session and grant, offline ones too", async () => {
    await session("alice", "here", { web: "g-here" });
    await session("alice", "there", { web: "g-there" });
    await grant("alice", "offline-app", "g-offline"); // its session ended; offline_access kept it
    await session("bob", "bobs", { web: "g-bob" });

    await payloads.revokeSessions("alice", { exceptUid: "here" });
    const left = await remaining();
    expect(left.filter((row) => row.includes("bob"))).toHaveLength(4);
    expect(left.filter((row) => !row.includes("bob"))).toEqual(["AccessToken:at-g-here", "Grant:g-here", "RefreshToken:rt-g-here", "Session:jti-here"]);
  });

  it("revokes one grant of the person's with its tokens, and no one else's", async () => {
    await session("alice", "here", { web: "g-here", cli: "g-cli" });
    await session("bob", "bobs", { web: "g-bob" });
    expect(await payloads.revokeGrant("alice", "g-bob")).toBe(false);
    expect(await payloads.revokeGrant("alice", "g-cli")).toBe(true);
    const left = await remaining();
    expect(left.filter((row) => row.includes("g-cli"))).toEqual([]);
    expect(left).toContain("Grant:g-bob");
    expect(left).toContain("RefreshToken:rt-g-here");
    expect((await payloads.listByAccountId("Grant", "alice")).map((row) => row.clientId)).toEqual(["web"]);
  });
});
