// Contract of the oidc-provider storage adapter, run identically against real PostgreSQL and the embedded database.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { errors, type Adapter } from "oidc-provider";
import { createAdapterClass } from "../idp/oidc/adapter.ts";
import { createClientStore, type ClientStore } from "../idp/store/clients.ts";
import { createOidcPayloadStore, type OidcPayloadStore } from "../idp/store/oidc-payloads.ts";
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

  const countRows = async (where = "true", params: unknown[] = []) =>
    Number((await database.db.query<{ n: string }>(`SELECT count(*) AS n FROM oidc_payloads WHERE ${where}`, params)).rows[0]!.n);

  beforeAll(async () => {
    database = await create();
    payloads = createOidcPayloadStore(database.db, now);
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
  });

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

    it("secondary lookups also hide expired rows", async () => {
      await adapter("Session").upsert("sess-1", { uid: "uid-1" }, 60);
      await adapter("DeviceCode").upsert("dc-1", { userCode: "CODE-1" }, 60);
      current = seconds(61);
      expect(await adapter("Session").findByUid("uid-1")).toBeUndefined();
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
