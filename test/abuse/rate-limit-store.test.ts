// The RateLimitStore conformance suite: the same tests against PostgreSQL (the rate_limits table)
// and the real Redis, with an injected clock, two store instances standing for two IdP instances.
import { randomBytes } from "node:crypto";
import { createClient } from "@redis/client";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createDatabase, createPool, type Database } from "../../idp/db/database.ts";
import { createPostgresRateLimitStore, type RateLimitStore } from "../../idp/store/rate-limits.ts";
import { connectRedisRateLimitStore } from "../../idp/store/rate-limits-redis.ts";
import { createPostgresTestDatabase, type TestDatabase } from "../support/database.ts";
import { redisUrl } from "./helpers.ts";


const START = new Date("2031-03-04T05:06:07.000Z");
let clock = START;
const now = () => clock;
const advance = (ms: number) => {
  clock = new Date(clock.getTime() + ms);
};

type Backend = {
  /** Two stores over the same backend, as two IdP instances would have. */
  stores: [RateLimitStore, RateLimitStore];
  /** How many of these keys the backend still physically holds (expired or not). */
  stored(keys: string[]): Promise<number>;
  close(): Promise<void>;
};

const backends: { name: string; open(): Promise<Backend> }[] = [
  {
    name: "PostgreSQL",
    async open() {
      const database: TestDatabase = await createPostgresTestDatabase();
      const second: Database = createDatabase(createPool(database.url!, 5));
      return {
        stores: [createPostgresRateLimitStore(database.db, now), createPostgresRateLimitStore(second, now)],
        async stored(keys) {
          const { rows } = await database.db.query<{ n: number }>("SELECT count(*)::int AS n FROM rate_limits WHERE key = ANY($1)", [keys]);
          return rows[0]!.n;
        },
        async close() {
          await second.close();
          await database.destroy();
        },
      };
    },
  },
  {
    name: "Redis",
    async open() {
      const prefix = `idp-test:${randomBytes(6).toString("hex")}:`;
      const stores: [RateLimitStore, RateLimitStore] = [
        await connectRedisRateLimitStore({ url: redisUrl, prefix, now }),
        await connectRedisRateLimitStore({ url: redisUrl, prefix, now }),
      ];
      const raw = createClient({ url: redisUrl });
      await raw.connect();
      return {
        stores,
        async stored(keys) {
          return keys.length === 0 ? 0 : raw.exists(keys.map((key) => prefix + key));
        },
        async close() {
          for await (const batch of raw.scanIterator({ MATCH: `${prefix}*`, COUNT: 100 })) if (batch.length) await raw.del(batch);
          await raw.close();
          await Promise.all(stores.map((store) => store.close()));
        },
      };
    },
  },
];

describe.each(backends)("RateLimitStore on $name", ({ open }) => {
  let backend: Backend;
  let store: RateLimitStore;
  let other: RateLimitStore;
  let n = 0;
  /** A fresh key per test, so tests never see each other's counters. */
  const fresh = (name = "key") => `t${++n}:${name}`;

  beforeAll(async () => {
    backend = await open();
    [store, other] = backend.stores;
  });
  afterAll(async () => backend?.close());
  beforeEach(() => {
    clock = START;
  });

  it("counts hits from 1; the window is fixed by the first hit and later hits never move it", async () => {
    const key = fresh();
    const first = await store.hit(key, 60);
    expect(first).toEqual({ count: 1, resetAt: new Date(START.getTime() + 60_000) });
    advance(20_000);
    expect(await store.hit(key, 60)).toEqual({ count: 2, resetAt: first.resetAt });
    advance(39_999);
    expect(await store.hit(key, 60)).toEqual({ count: 3, resetAt: first.resetAt });
  });

  it("starts a new window at 1 once the old one has ended", async () => {
    const key = fresh();
    const first = await store.hit(key, 10);
    await store.hit(key, 10);
    clock = first.resetAt;
    const again = await store.hit(key, 10);
    expect(again).toEqual({ count: 1, resetAt: new Date(first.resetAt.getTime() + 10_000) });
    advance(60 * 60_000); // long after: still a fresh window
    expect((await store.hit(key, 10)).count).toBe(1);
  });

  it("reads a counter without counting, and nothing once it has expired or never existed", async () => {
    const key = fresh();
    expect(await store.get(key)).toBeUndefined();
    const hit = await store.hit(key, 30);
    expect(await store.get(key)).toEqual(hit);
    expect(await store.get(key)).toEqual(hit);
    advance(29_999);
    expect(await store.get(key)).toEqual(hit);
    advance(1);
    expect(await store.get(key)).toBeUndefined();
  });

  it("keeps keys apart, whatever characters they contain", async () => {
    const keys = [fresh("a"), fresh("A"), fresh("signin:account:élodie@exämple.com"), fresh("with space:and:colons"), fresh("x".repeat(400))];
    for (const [index, key] of keys.entries()) {
      for (let i = 0; i <= index; i++) await store.hit(key, 60);
    }
    for (const [index, key] of keys.entries()) expect((await store.get(key))?.count, key).toBe(index + 1);
  });

  it("gives every one of many concurrent hits from two instances a different count", async () => {
    const key = fresh();
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? store : other).hit(key, 60)));
    expect(results.map((result) => result.count).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(new Set(results.map((result) => result.resetAt.getTime())).size).toBe(1);
    expect((await other.get(key))?.count).toBe(40);
  });

  it("shares counters between instances: one instance's hits are seen by the other", async () => {
    const key = fresh();
    await store.hit(key, 60);
    await store.hit(key, 60);
    expect((await other.hit(key, 60)).count).toBe(3);
    await other.clear([key]);
    expect(await store.get(key)).toBeUndefined();
  });

  it("clears exactly the counters it is given", async () => {
    const [a, b, c] = [fresh("a"), fresh("b"), fresh("c")];
    for (const key of [a, b, c]) await store.hit(key, 60);
    await store.clear([a, c, fresh("never-hit")]);
    await store.clear([]);
    expect(await store.get(a)).toBeUndefined();
    expect(await store.get(c)).toBeUndefined();
    expect((await store.get(b))?.count).toBe(1);
    expect((await store.hit(a, 60)).count).toBe(1);
  });

  it("cleans up: expired counters are deleted, live ones kept", async () => {
    const [short, long] = [fresh("short"), fresh("long")];
    await store.hit(short, 5);
    await store.hit(long, 600);
    advance(5_000);
    await store.deleteExpired();
    expect(await store.get(short)).toBeUndefined();
    expect((await store.get(long))?.count).toBe(1);
    // PostgreSQL deletes the row now; Redis has given the key a TTL and drops it itself.
    expect(await backend.stored([long])).toBe(1);
  });
});

describe("backend-specific cleanup", () => {
  it("PostgreSQL: deleteExpired deletes the expired rows and reports how many", async () => {
    const database = await createPostgresTestDatabase();
    try {
      const store = createPostgresRateLimitStore(database.db, now);
      clock = START;
      await store.hit("gone-1", 5);
      await store.hit("gone-2", 10);
      await store.hit("kept", 11);
      advance(10_000);
      expect(await store.deleteExpired()).toBe(2);
      const { rows } = await database.db.query<{ key: string }>("SELECT key FROM rate_limits ORDER BY key");
      expect(rows.map((row) => row.key)).toEqual(["kept"]);
    } finally {
      await database.destroy();
    }
  });

  it("Redis: every counter carries a Redis TTL equal to what is left of its window", async () => {
    const prefix = `idp-test:${randomBytes(6).toString("hex")}:`;
    const store = await connectRedisRateLimitStore({ url: redisUrl, prefix, now });
    const raw = createClient({ url: redisUrl });
    await raw.connect();
    try {
      clock = START;
      await store.hit("k", 60);
      advance(45_000);
      await store.hit("k", 60);
      const ttl = await raw.pTTL(`${prefix}k`);
      expect(ttl).toBeGreaterThan(14_000);
      expect(ttl).toBeLessThanOrEqual(15_000);
    } finally {
      await raw.del(`${prefix}k`);
      await raw.close();
      await store.close();
    }
  });
});
