// Contract of the oidc-provider storage adapter, run identically against real PostgreSQL and the embedded database.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { errors, type Adapter, type KoaContextWithOIDC } from "oidc-provider";
import { createAdapterClass } from "../idp/oidc/adapter.ts";
import { ConsumeConflictError, tokenUnitOfWorkMiddleware } from "../idp/oidc/token-unit-of-work.ts";
import { createClientStore, type ClientStore } from "../idp/store/clients.ts";
import { createOidcPayloadStore, type OidcPayloadStore, type PayloadWrite } from "../idp/store/oidc-payloads.ts";
import { testDatabases, type TestDatabase } from "./support/database.ts";

const START = new Date("2030-01-01T00:00:00.000Z");
const GRACE_SECONDS = 10;
const seconds = (n: number) => new Date(START.getTime() + n * 1000);

describe.each(testDatabases)("oidc adapter contract ($kind)", ({ create }) => {
  let database: TestDatabase;
  // The injected clock: tests move it instead of sleeping.
  let current = START;
  const now = () => current;
  let payloads: OidcPayloadStore;
  let clients: ClientStore;
  let AdapterClass: new (model: string) => Adapter;
  const adapter = (model: string) => new AdapterClass(model);
  // Every statement the adapter and the store send, for the round-trip tests.
  let statements: string[] = [];

  const countRows = async (where = "true", params: unknown[] = []) =>
    Number((await database.db.query<{ n: string }>(`SELECT count(*) AS n FROM oidc_payloads WHERE ${where}`, params)).rows[0]!.n);

  beforeAll(async () => {
    database = await create();
    const counted = {
      query: ((sql: string, params?: unknown[]) => {
        statements.push(sql);
        return database.db.query(sql, params);
      }) as TestDatabase["db"]["query"],
    };
    payloads = createOidcPayloadStore(counted, now);
    clients = createClientStore(database.db);
    AdapterClass = createAdapterClass({ payloads, clients, refreshTokenReuseGraceSeconds: GRACE_SECONDS, now });
  });

  afterAll(async () => {
    await database?.destroy();
  });

  beforeEach(async () => {
    current = START;
    await database.db.query("DELETE FROM oidc_payloads");
    await database.db.query("DELETE FROM clients");
    statements = [];
  });

  /**
   * Runs fn as the provider would run a request's adapter calls: inside the token unit of work
   * middleware, routed to `route`. Collected writes are committed as app.ts does.
   */
  async function inRequest<T>(fn: () => Promise<T>, route = "token"): Promise<T> {
    const ctx = { oidc: { route }, status: 200 } as unknown as KoaContextWithOIDC;
    const commit = async (writes: PayloadWrite[]) => {
      if (await payloads.commitWrites(writes)) throw new ConsumeConflictError("already used");
    };
    let result: T | undefined;
    await tokenUnitOfWorkMiddleware(commit)(ctx, async () => {
      result = await fn();
    });
    return result as T;
  }

  describe("upsert and find", () => {
    it("returns exactly the payload that was stored", async () => {
      const payload = { accountId: "user-1", clientId: "app", grantId: "g1", scope: "openid email", kind: "AccessToken" };
      await adapter("AccessToken").upsert("at-1", payload, 3600);
      expect(await adapter("AccessToken").find("at-1")).toEqual(payload);
    });

    it("replaces the whole payload on a second upsert (no merge), including the indexed grantId", async () => {
      await adapter("AccessToken").upsert("at-1", { accountId: "user-1", grantId: "old-grant", scope: "openid" }, 3600);
      const replacement = { accountId: "user-2", grantId: "new-grant" };
      await adapter("AccessToken").upsert("at-1", replacement, 3600);

      expect(await adapter("AccessToken").find("at-1")).toEqual(replacement);
      expect(await countRows()).toBe(1);
      // The grant_id column must follow the payload: revoking the old grant leaves the row alone.
      await adapter("AccessToken").revokeByGrantId("old-grant");
      expect(await adapter("AccessToken").find("at-1")).toEqual(replacement);
    });

    it("returns undefined for an unknown id, and ids are scoped by model", async () => {
      await adapter("Session").upsert("shared-id", { accountId: "user-1" }, 3600);
      expect(await adapter("Session").find("no-such-id")).toBeUndefined();
      expect(await adapter("AccessToken").find("shared-id")).toBeUndefined();
    });
  });

  describe("secondary lookups", () => {
    it("findByUid finds a Session by payload.uid, only within the Session model", async () => {
      const session = { uid: "uid-123", accountId: "user-1", kind: "Session" };
      await adapter("Session").upsert("sess-1", session, 3600);

      expect(await adapter("Session").findByUid("uid-123")).toEqual(session);
      expect(await adapter("Session").findByUid("uid-other")).toBeUndefined();
      expect(await adapter("Interaction").findByUid("uid-123")).toBeUndefined();
    });

    it("findByUserCode finds a DeviceCode by payload.userCode", async () => {
      const deviceCode = { userCode: "ABCD-EFGH", clientId: "tv-app", kind: "DeviceCode" };
      await adapter("DeviceCode").upsert("dc-1", deviceCode, 600);

      expect(await adapter("DeviceCode").findByUserCode("ABCD-EFGH")).toEqual(deviceCode);
      expect(await adapter("DeviceCode").findByUserCode("ZZZZ-ZZZZ")).toBeUndefined();
    });

    it("secondary lookups also hide expired rows; a device code only ten minutes past its expiry", async () => {
      await adapter("Session").upsert("sess-1", { uid: "uid-1" }, 60);
      await adapter("DeviceCode").upsert("dc-1", { userCode: "CODE-1" }, 60);
      current = seconds(61);
      expect(await adapter("Session").findByUid("uid-1")).toBeUndefined();
      // Kept so that the polling device hears expired_token (the provider reads the payload's own exp).
      expect(await adapter("DeviceCode").findByUserCode("CODE-1")).toEqual({ userCode: "CODE-1" });
      current = seconds(661);
      expect(await adapter("DeviceCode").findByUserCode("CODE-1")).toBeUndefined();
    });
  });

  describe("expiry", () => {
    it("a row with expiresIn 60 is found at +59 s and not at +61 s", async () => {
      await adapter("AuthorizationCode").upsert("code-1", { accountId: "user-1" }, 60);
      current = seconds(59);
      expect(await adapter("AuthorizationCode").find("code-1")).toEqual({ accountId: "user-1" });
      current = seconds(61);
      expect(await adapter("AuthorizationCode").find("code-1")).toBeUndefined();
    });

    it("deleteExpired removes only rows past expiry and returns how many", async () => {
      await adapter("AuthorizationCode").upsert("short", { n: 1 }, 60);
      await adapter("AccessToken").upsert("long", { n: 2 }, 3600);
      await payloads.upsert("Grant", "forever", { n: 3 }, undefined); // no expiry at all

      current = seconds(59);
      expect(await payloads.deleteExpired()).toBe(0);
      expect(await countRows()).toBe(3);

      current = seconds(61);
      expect(await payloads.deleteExpired()).toBe(1);
      const left = (await database.db.query<{ id: string }>("SELECT id FROM oidc_payloads ORDER BY id")).rows.map((r) => r.id);
      expect(left).toEqual(["forever", "long"]);
      expect(await adapter("AccessToken").find("long")).toEqual({ n: 2 });
    });
  });

  describe("consume", () => {
    it("a consumed payload comes back with consumed set to the consumption time (epoch seconds)", async () => {
      await adapter("AuthorizationCode").upsert("code-1", { accountId: "user-1" }, 60);
      expect(await adapter("AuthorizationCode").find("code-1")).not.toHaveProperty("consumed");

      current = seconds(5);
      await adapter("AuthorizationCode").consume("code-1");
      current = seconds(6);
      const found = await adapter("AuthorizationCode").find("code-1");
      expect(found).toEqual({ accountId: "user-1", consumed: seconds(5).getTime() / 1000 });
      // The store's internal Date must not leak to the provider through find().
      expect(found).not.toHaveProperty("consumedAt");
    });

    it("is atomic: 20 concurrent consumes of one code give exactly one success and 19 InvalidGrant", async () => {
      await adapter("AuthorizationCode").upsert("code-1", { accountId: "user-1" }, 60);
      // Separate adapter instances, as concurrent provider requests would have.
      const results = await Promise.allSettled(Array.from({ length: 20 }, () => adapter("AuthorizationCode").consume("code-1")));

      const fulfilled = results.filter((r) => r.status === "fulfilled");
      const rejected = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      expect(fulfilled).toHaveLength(1);
      expect(rejected).toHaveLength(19);
      for (const { reason } of rejected) {
        expect(reason).toBeInstanceOf(errors.InvalidGrant);
        expect((reason as InstanceType<typeof errors.InvalidGrant>).error).toBe("invalid_grant");
      }
      expect(await countRows("consumed_at IS NOT NULL")).toBe(1);
    });

    it("consuming an unknown id is refused with InvalidGrant", async () => {
      await expect(adapter("AuthorizationCode").consume("no-such-code")).rejects.toBeInstanceOf(errors.InvalidGrant);
    });

    it("a second upsert does not clear consumption", async () => {
      await adapter("AuthorizationCode").upsert("code-1", { n: 1 }, 60);
      await adapter("AuthorizationCode").consume("code-1");
      await adapter("AuthorizationCode").upsert("code-1", { n: 2 }, 60);
      expect(await adapter("AuthorizationCode").find("code-1")).toEqual({ n: 2, consumed: START.getTime() / 1000 });
    });
  });

  describe("commitWrites: a token request's writes in one statement", () => {
    const consume = (model: string, id: string): PayloadWrite => ({ kind: "consume", model, id });
    const upsert = (model: string, id: string, payload: Record<string, unknown>, expiresIn?: number): PayloadWrite => ({
      kind: "upsert",
      model,
      id,
      payload,
      expiresIn,
    });
    const rows = async () =>
      (
        await database.db.query<{ model: string; id: string; grant_id: string | null; expires_at: Date | null; consumed_at: Date | null }>(
          "SELECT model, id, grant_id, expires_at, consumed_at FROM oidc_payloads ORDER BY model, id",
        )
      ).rows;

    it("consumes and saves in order, in one round trip", async () => {
      await payloads.upsert("RefreshToken", "rt-1", { grantId: "g1" }, 3600);
      statements = [];
      current = seconds(5);
      const refused = await payloads.commitWrites([
        consume("RefreshToken", "rt-1"),
        upsert("RefreshToken", "rt-2", { grantId: "g1", uid: "u", userCode: "c" }, 60),
        upsert("AccessToken", "at-1", { grantId: "g1" }, 30),
        upsert("Grant", "g-no-expiry", { accountId: "user-1" }),
      ]);

      expect(refused).toBeUndefined();
      expect(statements).toHaveLength(1);
      expect(await rows()).toEqual([
        { model: "AccessToken", id: "at-1", grant_id: "g1", expires_at: seconds(35), consumed_at: null },
        { model: "Grant", id: "g-no-expiry", grant_id: null, expires_at: null, consumed_at: null },
        { model: "RefreshToken", id: "rt-1", grant_id: "g1", expires_at: seconds(3600), consumed_at: seconds(5) },
        { model: "RefreshToken", id: "rt-2", grant_id: "g1", expires_at: seconds(65), consumed_at: null },
      ]);
      expect(await adapter("RefreshToken").find("rt-2")).toEqual({ grantId: "g1", uid: "u", userCode: "c" });
      expect((await database.db.query("SELECT 1 FROM oidc_payloads WHERE uid = 'u' AND user_code = 'c'")).rowCount).toBe(1);
    });

    it("a refused consume writes nothing, not even the writes before it", async () => {
      await payloads.upsert("AuthorizationCode", "code-1", { grantId: "g1" }, 60);
      await payloads.consume("AuthorizationCode", "code-1");
      const before = await rows();

      const refused = await payloads.commitWrites([
        upsert("AccessToken", "at-1", { grantId: "g1" }, 30),
        consume("AuthorizationCode", "code-1"),
        upsert("RefreshToken", "rt-1", { grantId: "g1" }, 60),
      ]);

      expect(refused).toEqual({ consumeRefused: "AuthorizationCode" });
      expect(await rows()).toEqual(before);
    });

    it("with two consumes, a refused second one leaves the first unconsumed", async () => {
      await payloads.upsert("AuthorizationCode", "code-1", { n: 1 }, 60);
      await payloads.upsert("RefreshToken", "rt-used", { n: 2 }, 60);
      await payloads.consume("RefreshToken", "rt-used");

      const refused = await payloads.commitWrites([consume("AuthorizationCode", "code-1"), consume("RefreshToken", "rt-used")]);

      expect(refused).toEqual({ consumeRefused: "RefreshToken" });
      expect(await countRows("consumed_at IS NOT NULL")).toBe(1);
      expect(await adapter("AuthorizationCode").find("code-1")).toEqual({ n: 1 });
    });

    it("refuses consuming an unknown id", async () => {
      expect(await payloads.commitWrites([consume("RefreshToken", "no-such-token")])).toEqual({ consumeRefused: "RefreshToken" });
    });

    it("applies the writes in order: a later upsert of the same row wins, and a row saved earlier can be consumed", async () => {
      const refused = await payloads.commitWrites([
        upsert("AccessToken", "at-1", { n: 1 }, 60),
        upsert("AccessToken", "at-1", { n: 2 }, 60),
        upsert("AuthorizationCode", "code-1", { n: 3 }, 60),
        consume("AuthorizationCode", "code-1"),
      ]);
      expect(refused).toBeUndefined();
      expect(await adapter("AccessToken").find("at-1")).toEqual({ n: 2 });
      expect(await adapter("AuthorizationCode").find("code-1")).toEqual({ n: 3, consumed: START.getTime() / 1000 });
    });

    it("an error other than a refused consume is thrown, and nothing of the call is written", async () => {
      await payloads.upsert("AuthorizationCode", "code-1", { n: 1 }, 60);
      const bad = { kind: "delete", model: "AccessToken", id: "x" } as unknown as PayloadWrite;
      await expect(payloads.commitWrites([consume("AuthorizationCode", "code-1"), upsert("AccessToken", "at-1", {}, 60), bad])).rejects.toThrow(
        /unknown write kind/,
      );
      expect(await countRows("consumed_at IS NOT NULL")).toBe(0);
      expect(await countRows()).toBe(1);
    });

    it("20 concurrent commits consuming one code: exactly one commits, with its successor; the others write nothing", async () => {
      await payloads.upsert("AuthorizationCode", "code-1", { grantId: "g1" }, 60);
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          payloads.commitWrites([consume("AuthorizationCode", "code-1"), upsert("AccessToken", `at-${i}`, { grantId: "g1" }, 60)]),
        ),
      );
      expect(results.filter((result) => result === undefined)).toHaveLength(1);
      expect(results.filter((result) => result?.consumeRefused === "AuthorizationCode")).toHaveLength(19);
      expect(await countRows("model = 'AccessToken'")).toBe(1);
      expect(await countRows("consumed_at IS NOT NULL")).toBe(1);
    });
  });

  describe("token requests: the grant source's grant and session are read with it", () => {
    const grant = { accountId: "user-1", clientId: "app", kind: "Grant" };
    const session = { uid: "uid-1", accountId: "user-1", kind: "Session" };
    const source = (extra: Record<string, unknown> = {}) => ({
      accountId: "user-1",
      clientId: "app",
      grantId: "g1",
      sessionUid: "uid-1",
      expiresWithSession: true,
      ...extra,
    });

    beforeEach(async () => {
      await payloads.upsert("Grant", "g1", grant, 3600);
      await payloads.upsert("Session", "sess-1", session, 3600);
      statements = [];
    });

    it.each(["RefreshToken", "AuthorizationCode"])("finding a %s answers the later grant and session lookups without a query", async (model) => {
      await payloads.upsert(model, "t-1", source(), 600);
      statements = [];
      const found = await inRequest(async () => ({
        token: await adapter(model).find("t-1"),
        session: await adapter("Session").findByUid("uid-1"),
        grant: await adapter("Grant").find("g1"),
      }));
      expect(found).toEqual({ token: source(), session, grant });
      expect(statements).toHaveLength(1);
    });

    it("a token that does not end with the session reads only its grant; the session is looked up when asked", async () => {
      await payloads.upsert("RefreshToken", "rt-1", source({ expiresWithSession: undefined }), 600);
      statements = [];
      const found = await inRequest(async () => [await adapter("RefreshToken").find("rt-1"), await adapter("Grant").find("g1")]);
      expect(found[1]).toEqual(grant);
      expect(statements).toHaveLength(1);
      expect(await inRequest(() => adapter("Session").findByUid("uid-1"))).toEqual(session);
      expect(statements).toHaveLength(2);
    });

    it("a grant or session that is gone or expired is answered as missing, also without a query", async () => {
      await payloads.upsert("RefreshToken", "rt-1", source(), 600);
      await payloads.upsert("Grant", "g1", grant, 60);
      await payloads.destroy("Session", "sess-1");
      current = seconds(61);
      statements = [];
      const found = await inRequest(async () => [
        await adapter("RefreshToken").find("rt-1"),
        await adapter("Grant").find("g1"),
        await adapter("Session").findByUid("uid-1"),
      ]);
      expect(found).toEqual([source(), undefined, undefined]);
      expect(statements).toHaveLength(1);
    });

    it("a row read ahead answers one lookup; a write in the request drops the rest", async () => {
      await payloads.upsert("RefreshToken", "rt-1", source(), 600);
      statements = [];
      await inRequest(async () => {
        await adapter("RefreshToken").find("rt-1");
        expect(await adapter("Grant").find("g1")).toEqual(grant);
        expect(statements).toHaveLength(1);
        expect(await adapter("Grant").find("g1")).toEqual(grant); // asked again: read again
        expect(statements).toHaveLength(2);

        await adapter("RefreshToken").find("rt-1"); // reads the session ahead again
        await adapter("AccessToken").upsert("at-1", { grantId: "g1" }, 60); // collected, not sent
        expect(statements).toHaveLength(3);
        expect(await adapter("Session").findByUid("uid-1")).toEqual(session);
        expect(statements).toHaveLength(4);
      });
    });

    it("never answers a lookup of another request", async () => {
      await payloads.upsert("RefreshToken", "rt-1", source(), 600);
      await inRequest(() => adapter("RefreshToken").find("rt-1")); // reads the grant ahead, never asks for it
      const changed = { ...grant, accountId: "user-2" };
      await payloads.upsert("Grant", "g1", changed, 3600);
      statements = [];

      expect(await inRequest(() => adapter("Grant").find("g1"))).toEqual(changed);
      expect(await adapter("Grant").find("g1")).toEqual(changed);
      expect(statements).toHaveLength(2);
    });

    it("reads nothing ahead outside the token endpoint", async () => {
      await payloads.upsert("RefreshToken", "rt-1", source(), 600);
      statements = [];
      for (const run of [<T>(fn: () => Promise<T>) => fn(), <T>(fn: () => Promise<T>) => inRequest(fn, "introspection")]) {
        await run(async () => {
          await adapter("RefreshToken").find("rt-1");
          await adapter("Grant").find("g1");
          await adapter("Session").findByUid("uid-1");
        });
      }
      expect(statements).toHaveLength(6);
      expect(statements.some((sql) => /LATERAL/.test(sql))).toBe(false);
    });

    it(`keeps the refresh-token grace window: unconsumed within ${GRACE_SECONDS} s, consumed after`, async () => {
      await payloads.upsert("RefreshToken", "rt-1", source(), 3600);
      current = seconds(100);
      await adapter("RefreshToken").consume("rt-1");

      current = seconds(100 + GRACE_SECONDS - 1);
      const within = await inRequest(() => adapter("RefreshToken").find("rt-1"));
      expect(within).toEqual(source());
      expect(within).not.toHaveProperty("consumed");

      current = seconds(100 + GRACE_SECONDS + 1);
      expect(await inRequest(() => adapter("RefreshToken").find("rt-1"))).toEqual({ ...source(), consumed: seconds(100).getTime() / 1000 });
      // An authorization code has no window, and its consumption shows through the read-ahead too.
      await payloads.upsert("AuthorizationCode", "code-1", source(), 600);
      await payloads.consume("AuthorizationCode", "code-1");
      expect(await inRequest(() => adapter("AuthorizationCode").find("code-1"))).toHaveProperty("consumed", seconds(101 + GRACE_SECONDS).getTime() / 1000);
    });

    it("commits the request's consume and saves together; a second request for the same token writes nothing", async () => {
      await payloads.upsert("RefreshToken", "rt-1", source(), 600);
      const refresh = (successor: string) =>
        inRequest(async () => {
          const token = await adapter("RefreshToken").find("rt-1");
          await adapter("Grant").find("g1");
          await adapter("RefreshToken").consume("rt-1");
          await adapter("RefreshToken").upsert(successor, { ...token, rotations: 1 }, 600);
          await adapter("AccessToken").upsert(`at-${successor}`, { grantId: "g1" }, 60);
          expect(await countRows("id IN ($1, $2)", [successor, `at-${successor}`])).toBe(0); // not before the commit
        });

      await refresh("rt-2");
      expect(await countRows("id IN ('rt-2', 'at-rt-2')")).toBe(2);
      // The middleware turns the refused consume into invalid_grant, which the provider's outermost
      // middleware renders.
      await expect(refresh("rt-3")).rejects.toMatchObject({ status: 400, code: "invalid_grant" });
      expect(await countRows("id IN ('rt-3', 'at-rt-3')")).toBe(0);
    });
  });

  describe("destroy and revocation", () => {
    it("destroy removes only that model's row", async () => {
      await adapter("AccessToken").upsert("same-id", { n: 1 }, 3600);
      await adapter("Session").upsert("same-id", { n: 2 }, 3600);
      await adapter("AccessToken").destroy("same-id");

      expect(await adapter("AccessToken").find("same-id")).toBeUndefined();
      expect(await adapter("Session").find("same-id")).toEqual({ n: 2 });
      expect(await countRows()).toBe(1);
    });

    it("revokeByGrantId removes every model's rows with that grantId and leaves the others", async () => {
      await adapter("AccessToken").upsert("at-1", { grantId: "g1" }, 3600);
      await adapter("RefreshToken").upsert("rt-1", { grantId: "g1" }, 3600);
      await adapter("AuthorizationCode").upsert("code-1", { grantId: "g1" }, 60);
      await adapter("AccessToken").upsert("at-2", { grantId: "g2" }, 3600);
      await adapter("Session").upsert("sess-1", { uid: "u1" }, 3600);

      // oidc-provider calls this on one model's adapter; the grant's rows go from every model.
      await adapter("AccessToken").revokeByGrantId("g1");

      expect(await countRows("grant_id = $1", ["g1"])).toBe(0);
      const left = (await database.db.query<{ model: string; id: string }>("SELECT model, id FROM oidc_payloads ORDER BY id")).rows;
      expect(left).toEqual([
        { model: "AccessToken", id: "at-2" },
        { model: "Session", id: "sess-1" },
      ]);
    });

    it("revokeByClientId (payload store) removes the client's grants, tokens, and rows under its grants only", async () => {
      await payloads.upsert("Grant", "g-app", { clientId: "app", accountId: "user-1" }, 3600);
      await payloads.upsert("AccessToken", "at-app", { clientId: "app", grantId: "g-app" }, 3600);
      // No clientId in the payload: reached only through its grant.
      await payloads.upsert("RefreshToken", "rt-app", { grantId: "g-app" }, 3600);
      await payloads.upsert("Grant", "g-other", { clientId: "other", accountId: "user-1" }, 3600);
      await payloads.upsert("AccessToken", "at-other", { clientId: "other", grantId: "g-other" }, 3600);
      // A client id that merely prefixes another must not match.
      await payloads.upsert("AccessToken", "at-app2", { clientId: "app2" }, 3600);

      await payloads.revokeByClientId("app");

      const left = (await database.db.query<{ id: string }>("SELECT id FROM oidc_payloads ORDER BY id")).rows.map((r) => r.id);
      expect(left).toEqual(["at-app2", "at-other", "g-other"]);
    });
  });

  describe("refresh-token reuse grace window", () => {
    it(`a rotated refresh token is presented unconsumed within ${GRACE_SECONDS} s and consumed after`, async () => {
      await adapter("RefreshToken").upsert("rt-1", { accountId: "user-1", grantId: "g1" }, 3600);
      current = seconds(100);
      await adapter("RefreshToken").consume("rt-1");

      current = seconds(100 + GRACE_SECONDS - 1);
      const within = await adapter("RefreshToken").find("rt-1");
      expect(within).toEqual({ accountId: "user-1", grantId: "g1" });
      expect(within).not.toHaveProperty("consumed");
      // Inside the window a replay is still refused by consume(), so the grant is not revoked but the request fails.
      await expect(adapter("RefreshToken").consume("rt-1")).rejects.toBeInstanceOf(errors.InvalidGrant);

      current = seconds(100 + GRACE_SECONDS + 1);
      expect(await adapter("RefreshToken").find("rt-1")).toEqual({
        accountId: "user-1",
        grantId: "g1",
        consumed: seconds(100).getTime() / 1000,
      });
    });

    it("the grace window applies to refresh tokens only", async () => {
      await adapter("AuthorizationCode").upsert("code-1", { accountId: "user-1" }, 60);
      await adapter("AuthorizationCode").consume("code-1");
      current = seconds(1); // well inside what would be the window
      expect(await adapter("AuthorizationCode").find("code-1")).toHaveProperty("consumed", START.getTime() / 1000);
    });
  });

  describe('model "Client"', () => {
    // toMatchObject, not toEqual: the provider may be given more metadata over time; the fields below
    // (arrays compared element by element, full length) are the contract.
    const commonMetadata = { grant_types: ["authorization_code", "refresh_token"], response_types: ["code"] };

    it("maps a public client row to metadata with token_endpoint_auth_method none and no secret", async () => {
      await clients.create({
        id: "spa",
        name: "Single Page App",
        secretHash: null,
        redirectUris: ["http://localhost:5173/callback"],
        postLogoutRedirectUris: ["http://localhost:5173/"],
        firstParty: true,
      });
      const metadata = await adapter("Client").find("spa");
      expect(metadata).toMatchObject({
        client_id: "spa",
        client_name: "Single Page App",
        token_endpoint_auth_method: "none",
        redirect_uris: ["http://localhost:5173/callback"],
        post_logout_redirect_uris: ["http://localhost:5173/"],
        first_party: true,
        ...commonMetadata,
      });
      expect(metadata).not.toHaveProperty("client_secret");
    });

    it("maps a confidential client row to client_secret_basic with the stored hash as client_secret", async () => {
      const hash = "a".repeat(64);
      await clients.create({
        id: "backend",
        name: null,
        secretHash: hash,
        redirectUris: ["https://app.example.com/cb", "https://app.example.com/cb2"],
        postLogoutRedirectUris: [],
        firstParty: false,
      });
      const metadata = await adapter("Client").find("backend");
      expect(metadata).not.toHaveProperty("client_name"); // name is null
      expect(metadata).toMatchObject({
        client_id: "backend",
        client_secret: hash,
        token_endpoint_auth_method: "client_secret_basic",
        redirect_uris: ["https://app.example.com/cb", "https://app.example.com/cb2"],
        post_logout_redirect_uris: [],
        first_party: false,
        ...commonMetadata,
      });
    });

    it("returns undefined for an unknown client", async () => {
      expect(await adapter("Client").find("no-such-client")).toBeUndefined();
    });

    it("refuses upsert: clients are managed outside the provider", async () => {
      await expect(adapter("Client").upsert("dyn", { client_id: "dyn", redirect_uris: ["https://x.example/cb"] }, 0)).rejects.toThrow(
        /clients are managed/,
      );
      expect(await clients.find("dyn")).toBeUndefined();
      expect(await countRows()).toBe(0);
    });
  });
});
