// The client cache on a real database: hits cost no query, entries expire with the clock, unknown
// ids are never cached, and concurrent lookups of one client share a query.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Queryable } from "../db/database.ts";
import { createClientStore } from "../store/clients.ts";
import { createPostgresTestDatabase, type TestDatabase } from "../../test/support/database.ts";
import { cachedClientLookup } from "./client-cache.ts";

describe("cachedClientLookup", () => {
  let database: TestDatabase;
  let queries = 0;
  let counted: Queryable;
  let clock = Date.parse("2026-11-26T12:00:00Z");
  const now = () => new Date(clock);

  beforeAll(async () => {
    database = await createPostgresTestDatabase();
    counted = { query: (sql, params) => (queries++, database.db.query(sql, params)) };
  });
  afterAll(async () => database?.destroy());

  const client = (id: string) => ({ id, name: null, secretHash: null, redirectUris: ["http://localhost:5173/cb"], postLogoutRedirectUris: [], firstParty: true });

  it("answers from memory until the TTL passes, then reads the row again", async () => {
    const store = createClientStore(counted);
    await store.create(client("spa"));
    const lookup = cachedClientLookup(store, 5, now);
    queries = 0;
    expect((await lookup.find("spa"))?.id).toBe("spa");
    expect((await lookup.find("spa"))?.id).toBe("spa");
    expect(queries).toBe(1);

    await store.remove("spa");
    clock += 4_000;
    expect((await lookup.find("spa"))?.id).toBe("spa"); // still within the TTL
    clock += 1_001;
    expect(await lookup.find("spa")).toBeUndefined();
  });

  it("never caches an unknown id: a client added later is found at once", async () => {
    const store = createClientStore(counted);
    const lookup = cachedClientLookup(store, 5, now);
    expect(await lookup.find("later")).toBeUndefined();
    await store.create(client("later"));
    expect((await lookup.find("later"))?.id).toBe("later");
  });

  it("shares one query between concurrent lookups", async () => {
    const store = createClientStore(counted);
    await store.create(client("busy"));
    const lookup = cachedClientLookup(store, 5, now);
    queries = 0;
    const found = await Promise.all(Array.from({ length: 10 }, () => lookup.find("busy")));
    expect(found.every((entry) => entry?.id === "busy")).toBe(true);
    expect(queries).toBe(1);
  });

  it("passes every lookup through when turned off", async () => {
    const store = createClientStore(counted);
    await store.create(client("uncached"));
    const lookup = cachedClientLookup(store, 0, now);
    queries = 0;
    await lookup.find("uncached");
    await lookup.find("uncached");
    expect(queries).toBe(2);
  });
});
