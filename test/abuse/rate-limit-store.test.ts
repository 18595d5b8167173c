// The RateLimitStore conformance suite: the same tests against PostgreSQL (the rate_limits table)
// and the real Redis, with an injected clock, two store instances standing for two IdP instances.
import { randomBytes } from "node:crypto";
import { createClient } from "@redis/client";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createPostgresRateLimitStore, type RateLimitStore } from "../../idp/store/rate-limits.ts";
import { connectRedisRateLimitStore } from "../../idp/store/rate-limits-redis.ts";
import { createPostgresTestDatabase } from "../support/database.ts";
import { redisUrl } from "./helpers.ts";
import { storeBackends, type StoreBackend } from "./store-backends.ts";
import { describeEach, needsRedis } from "../support/redis.ts";

const START = new Date("2031-03-04T05:06:07.000Z");
let clock = START;
const now = () => clock;
const advance = (ms: number) => {
  clock = new Date(clock.getTime() + ms);
};

describeEach(storeBackends, "RateLimitStore on $name", ({ open }) => {
  let backend: StoreBackend;
  let store: RateLimitStore;
  let other: RateLimitStore;
  let n = 0;
  /** A fresh key per test, so tests never see each other's counters. */
  const fresh = (name = "key") => `t${++n}:${name}`;

  beforeAll(async () => {
    backend = await open(now);
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

  it("adds amounts to several counters in one step, answering in input order, with hit's fixed windows", async () => {
    const [a, b, c] = [fresh("a"), fresh("b"), fresh("c")];
    const first = await store.hit(b, 60);
    advance(10_000);
    const at = clock.getTime();
    expect(
      await store.add([
        { key: a, amount: 3, windowSeconds: 30 },
        { key: b, amount: 2, windowSeconds: 30 },
        { key: c, amount: 1, windowSeconds: 5 },
      ]),
    ).toEqual([
      { count: 3, resetAt: new Date(at + 30_000) },
      { count: 3, resetAt: first.resetAt }, // a live window is never moved
      { count: 1, resetAt: new Date(at + 5_000) },
    ]);
    expect(await other.get(a)).toEqual({ count: 3, resetAt: new Date(at + 30_000) });
    expect((await other.hit(b, 60)).count).toBe(4);
    expect(await store.add([])).toEqual([]);
  });

  it("counts a key given twice in one add both times, each entry seeing the counter right after its own amount", async () => {
    const [a, b] = [fresh("a"), fresh("b")];
    const at = clock.getTime();
    expect(
      await store.add([
        { key: a, amount: 1, windowSeconds: 60 },
        { key: b, amount: 5, windowSeconds: 60 },
        { key: a, amount: 2, windowSeconds: 10 },
        { key: a, amount: 4, windowSeconds: 10 },
      ]),
    ).toEqual([
      { count: 1, resetAt: new Date(at + 60_000) },
      { count: 5, resetAt: new Date(at + 60_000) },
      { count: 3, resetAt: new Date(at + 60_000) }, // the window is the first entry's
      { count: 7, resetAt: new Date(at + 60_000) },
    ]);
    expect((await store.get(a))?.count).toBe(7);
  });

  it("restarts an ended counter at its amount, its window running from startedAt when given", async () => {
    const [a, b] = [fresh("a"), fresh("b")];
    const first = await store.hit(a, 10);
    clock = first.resetAt;
    expect(await store.add([{ key: a, amount: 4, windowSeconds: 10 }])).toEqual([{ count: 4, resetAt: new Date(clock.getTime() + 10_000) }]);
    const startedAt = new Date(clock.getTime() - 20_000);
    expect(await store.add([{ key: b, amount: 2, windowSeconds: 60, startedAt }])).toEqual([{ count: 2, resetAt: new Date(clock.getTime() + 40_000) }]);
    // startedAt only places a new window: a live one keeps its end.
    expect(await store.add([{ key: b, amount: 1, windowSeconds: 60, startedAt: new Date(0) }])).toEqual([
      { count: 3, resetAt: new Date(clock.getTime() + 40_000) },
    ]);
  });

  it("reads without writing when the amount is 0", async () => {
    const [never, live] = [fresh("never"), fresh("live")];
    const at = clock.getTime();
    expect(await store.add([{ key: never, amount: 0, windowSeconds: 60 }])).toEqual([{ count: 0, resetAt: new Date(at + 60_000) }]);
    expect(await backend.stored([never])).toBe(0);
    const hit = await store.hit(live, 30);
    advance(5_000);
    expect(await store.add([{ key: live, amount: 0, windowSeconds: 30 }, { key: never, amount: 0, windowSeconds: 60 }])).toEqual([
      hit,
      { count: 0, resetAt: new Date(at + 65_000) },
    ]);
    expect(await store.get(live)).toEqual(hit);
    clock = hit.resetAt;
    expect(await store.add([{ key: live, amount: 0, windowSeconds: 30 }])).toEqual([{ count: 0, resetAt: new Date(hit.resetAt.getTime() + 30_000) }]);
    expect((await store.hit(live, 30)).count).toBe(1);
  });

  it("refuses amounts that are not whole numbers of 0 or more, and writes nothing", async () => {
    const key = fresh();
    await expect(store.add([{ key, amount: 1, windowSeconds: 60 }, { key: fresh(), amount: -1, windowSeconds: 60 }])).rejects.toThrow(RangeError);
    await expect(store.add([{ key, amount: 1.5, windowSeconds: 60 }])).rejects.toThrow(RangeError);
    expect(await store.get(key)).toBeUndefined();
  });

  it("applies concurrent adds from two instances atomically, whatever order they list their keys in", async () => {
    const total = fresh("total");
    const others = [fresh("k0"), fresh("k1"), fresh("k2"), fresh("k3")];
    const batches = Array.from({ length: 40 }, (_, i) => {
      // Every batch touches the same keys, in a different order each time (deadlock-prone if locked as listed).
      const keys = i % 2 ? [...others].reverse() : [...others.slice(i % 4), ...others.slice(0, i % 4)];
      const hits = keys.map((key, j) => ({ key, amount: ((i + j) % 3) + 1, windowSeconds: 60 }));
      hits.splice(i % 5, 0, { key: total, amount: 1, windowSeconds: 60 });
      return hits;
    });
    const results = await Promise.all(batches.map((hits, i) => (i % 2 ? store : other).add(hits)));
    const totals = results.map((counters, i) => counters[batches[i]!.findIndex((hit) => hit.key === total)]!.count);
    expect(totals.sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    for (const key of others) {
      const sum = batches.flat().filter((hit) => hit.key === key).reduce((acc, hit) => acc + hit.amount, 0);
      expect((await store.get(key))?.count, key).toBe(sum);
    }
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

  it("Redis: every counter carries a Redis TTL equal to what is left of its window", async (context) => {
    needsRedis(context);
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
