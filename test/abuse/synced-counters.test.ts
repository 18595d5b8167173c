// The locally counted, background-synced rate-limit counters over both real stores, with an
// injected clock and explicit sync() calls: one instance counts exactly like the store itself, two
// instances see each other's hits after a sync and hold a limit together, a store outage is
// counted through and caught up, a store that stops answering holds nothing up, and memory stays bounded.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { createSyncedCounters, type SyncedCounters, type SyncedCountersOptions } from "../../idp/abuse/synced-counters.ts";
import type { RateLimitStore } from "../../idp/store/rate-limits.ts";
import { DependencyTimeoutError } from "../../idp/db/bounded-wait.ts";
import { storeBackends, type StoreBackend } from "./store-backends.ts";
import { describeEach } from "../support/redis.ts";

const START = new Date("2032-01-02T03:04:05.000Z");
let clock = START;
const now = () => clock;
const advance = (ms: number) => {
  clock = new Date(clock.getTime() + ms);
};

let errors: unknown[] = [];
const opened: SyncedCounters[] = [];
/** Counters that sync only when told (intervalMs 0), reporting sync failures into `errors`. */
function countersOver(store: RateLimitStore, options: Partial<SyncedCountersOptions> = {}): SyncedCounters {
  const counters = createSyncedCounters({ store, intervalMs: 0, now, onSyncError: (error) => errors.push(error), ...options });
  opened.push(counters);
  return counters;
}

beforeEach(() => {
  clock = START;
  errors = [];
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((counters) => counters.close()));
});

describeEach(storeBackends, "synced counters over $name", ({ open }) => {
  let backend: StoreBackend;
  let store: RateLimitStore;
  let other: RateLimitStore;
  let n = 0;
  const fresh = (name = "key") => `s${++n}:${name}`;

  beforeAll(async () => {
    backend = await open(now);
    [store, other] = backend.stores;
  });
  afterAll(async () => backend?.close());

  it("count exactly like the store on one instance, through syncs and window ends", async () => {
    const counters = countersOver(store);
    const [local, direct] = [fresh("local"), fresh("direct")];
    // The same hits, counted locally on one key and straight in the store on the other.
    const script: (number | "sync")[] = [0, 0, "sync", 0, 20_000, "sync", "sync", 0, 0, 40_000, 0, 5_000, 0, "sync", 54_999, 0, 1, 0, 0, "sync", 30_000, 0];
    for (const step of script) {
      if (step === "sync") {
        await counters.sync();
        expect(await store.get(local)).toEqual(await store.get(direct));
        continue;
      }
      advance(step);
      expect(counters.hit(local, 60)).toEqual(await store.hit(direct, 60));
    }
    expect(errors).toEqual([]);
  });

  it("count without a round trip: hits reach the store only at a sync", async () => {
    const counters = countersOver(store);
    const key = fresh();
    for (let i = 1; i <= 3; i++) expect(counters.hit(key, 60)).toEqual({ count: i, resetAt: new Date(START.getTime() + 60_000) });
    expect(await store.get(key)).toBeUndefined();
    await counters.sync();
    expect(await store.get(key)).toEqual({ count: 3, resetAt: new Date(START.getTime() + 60_000) });
  });

  it("let two instances see each other's hits after a sync, even when one has nothing to send", async () => {
    const [a, b] = [countersOver(store), countersOver(other)];
    const key = fresh();
    a.hit(key, 60);
    await a.sync();
    advance(10_000);
    for (let i = 0; i < 5; i++) b.hit(key, 60);
    // Neither a's hit nor the window it started are known yet...
    expect(b.hit(key, 60)).toEqual({ count: 6, resetAt: new Date(START.getTime() + 70_000) });
    await b.sync();
    // ...until b's first sync: the store's window, and the total.
    expect(b.hit(key, 60)).toEqual({ count: 8, resetAt: new Date(START.getTime() + 60_000) });
    await a.sync(); // nothing to send: it reads
    expect(a.hit(key, 60)).toEqual({ count: 8, resetAt: new Date(START.getTime() + 60_000) }); // b's 7th, unsent, is not
  });

  it("hold a limit together when they sync between rounds", async () => {
    const [a, b] = [countersOver(store), countersOver(other)];
    const key = fresh();
    const limit = 10;
    let allowed = 0;
    for (let round = 0; round < 8; round++) {
      for (const instance of [a, b]) if (instance.hit(key, 60).count <= limit) allowed++;
      await a.sync();
      await b.sync();
      await a.sync();
    }
    expect(allowed).toBe(limit);
    expect((await store.get(key))?.count).toBe(16);
    // Between syncs each instance only knows its own hits: that is the overshoot the interval allows.
    const burst = fresh("burst");
    for (let i = 0; i < 6; i++) for (const instance of [a, b]) instance.hit(burst, 60);
    await a.sync();
    await b.sync();
    await a.sync();
    expect(a.hit(burst, 60).count).toBe(13);
    expect(b.hit(burst, 60).count).toBe(13);
  });

  it("send large numbers of keys in batches", async () => {
    const counters = countersOver(store, { batchSize: 3 });
    const keys = Array.from({ length: 10 }, (_, i) => fresh(`k${i}`));
    keys.forEach((key, i) => {
      for (let j = 0; j <= i; j++) counters.hit(key, 60);
    });
    await counters.sync();
    for (const [i, key] of keys.entries()) expect((await other.get(key))?.count, key).toBe(i + 1);
  });

  it("hold at most maxKeys keys, forgetting the oldest window first, and drop ended windows at a sync", async () => {
    const counters = countersOver(store, { maxKeys: 100 });
    const keys = Array.from({ length: 250 }, (_, i) => fresh(`many${i}`));
    for (const key of keys) counters.hit(key, 60);
    expect(counters.size).toBe(100);
    expect(counters.hit(keys[249]!, 60).count).toBe(2); // kept
    expect(counters.hit(keys[0]!, 60).count).toBe(1); // forgotten here, counted again
    expect(counters.size).toBe(100);
    // What the forgotten windows had not sent yet still reaches the store at the next sync, as far
    // as the last maxKeys of them (keys 51-150 here; a flood of more new keys per interval loses some).
    await counters.sync();
    for (const index of [51, 100, 150]) expect((await other.get(keys[index]!))?.count, `key ${index}`).toBe(1);
    expect(await other.get(keys[50]!)).toBeUndefined();
    expect((await other.get(keys[249]!))?.count).toBe(2);
    advance(30_000);
    const late = fresh("late");
    counters.hit(late, 60);
    advance(30_000);
    await counters.sync();
    expect(counters.size).toBe(1); // only `late`, whose window runs on
    advance(30_000);
    await counters.sync();
    expect(counters.size).toBe(0);
  });

  it("keep a busy key through a flood of one-off keys (whoever floods cannot push their own counter out)", async () => {
    const counters = countersOver(store, { maxKeys: 100 });
    const busy = fresh("busy");
    for (let i = 0; i < 10; i++) counters.hit(busy, 60);
    for (let i = 0; i < 500; i++) counters.hit(fresh(`junk${i}`), 60);
    expect(counters.size).toBe(100);
    expect(counters.hit(busy, 60).count).toBe(11);
  });

  it("sync by themselves every interval, and send what is left on close", async () => {
    const counters = createSyncedCounters({ store, intervalMs: 20, now, onSyncError: (error) => errors.push(error) });
    const key = fresh();
    counters.hit(key, 60);
    await vi.waitFor(async () => expect((await store.get(key))?.count).toBe(1), { timeout: 5_000, interval: 10 });
    counters.hit(key, 60);
    counters.hit(key, 60);
    await counters.close();
    expect((await store.get(key))?.count).toBe(3);
    expect(errors).toEqual([]);
  });
});

describe("synced counters when the store fails", () => {
  let backend: StoreBackend;
  beforeAll(async () => {
    backend = await storeBackends.find((candidate) => candidate.name === "PostgreSQL")!.open(now);
  });
  afterAll(async () => backend?.close());

  it("keep counting locally, report the failure, and send the hits they kept once the store is back", async () => {
    const [store, other] = backend.stores;
    const [a, b] = [countersOver(store), countersOver(other)];
    const db = backend.database!.db;
    for (let i = 0; i < 3; i++) a.hit("down", 60);
    b.hit("down", 60);
    await b.sync();

    await db.query("ALTER TABLE rate_limits RENAME TO rate_limits_away"); // a real failure of every query
    try {
      await a.sync(); // resolves: the failure is reported, not thrown
      expect(errors).toHaveLength(1);
      expect(String(errors[0])).toMatch(/rate_limits/);
      expect(a.hit("down", 60).count).toBe(4);
      await a.sync();
      expect(errors).toHaveLength(2);
      expect(a.hit("down", 60).count).toBe(5);
    } finally {
      await db.query("ALTER TABLE rate_limits_away RENAME TO rate_limits");
    }

    await a.sync();
    expect(errors).toHaveLength(2);
    expect(await store.get("down")).toEqual({ count: 6, resetAt: new Date(START.getTime() + 60_000) });
    expect(a.hit("down", 60).count).toBe(7);
  });

  it("forget hits kept through an outage once their window has ended", async () => {
    const [store] = backend.stores;
    const counters = countersOver(store);
    const db = backend.database!.db;
    await db.query("ALTER TABLE rate_limits RENAME TO rate_limits_away");
    try {
      for (let i = 0; i < 3; i++) counters.hit("outlived", 60);
      await counters.sync();
      expect(errors).toHaveLength(1);
    } finally {
      await db.query("ALTER TABLE rate_limits_away RENAME TO rate_limits");
    }
    advance(60_000);
    await counters.sync();
    expect(counters.size).toBe(0);
    expect(await store.get("outlived")).toBeUndefined();
    expect(counters.hit("outlived", 60)).toEqual({ count: 1, resetAt: new Date(clock.getTime() + 60_000) });
  });
});

describe("synced counters when the store stops answering", () => {
  let backend: StoreBackend;
  beforeAll(async () => {
    backend = await storeBackends.find((candidate) => candidate.name === "PostgreSQL")!.open(now);
  });
  afterAll(async () => backend?.close());

  /** The real store, except that while `hung` its add() never settles, like a server that froze. */
  const hangable = (store: RateLimitStore) => {
    const control = { hung: false };
    const wrapped: RateLimitStore = { ...store, add: (adds) => (control.hung ? new Promise(() => {}) : store.add(adds)) };
    return { control, store: wrapped };
  };
  /** Fails the test instead of letting it wait for ever (a liveness bound, not a measure of speed). */
  const settles = <T>(promise: Promise<T>) =>
    Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error("still waiting after 10 s")), 10_000))]);

  it("give up on a sync past their timeout: later syncs and close go on, and nothing is lost", async () => {
    const [store] = backend.stores;
    const { control, store: frozen } = hangable(store);
    const counters = countersOver(frozen, { timeoutMs: 200 });
    for (let i = 0; i < 3; i++) counters.hit("frozen", 60);
    control.hung = true;
    await settles(counters.sync());
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(DependencyTimeoutError);
    counters.hit("frozen", 60);
    await settles(counters.sync());
    expect(errors).toHaveLength(2);

    // A sync under way that never comes back does not hold up close(), which does not try again.
    const underWay = counters.sync();
    await settles(counters.close());
    await underWay;
    expect(errors).toHaveLength(3);

    // What the lost syncs carried was kept: once the store answers, the next sync sends all of it.
    control.hung = false;
    await counters.sync();
    expect(await store.get("frozen")).toEqual({ count: 4, resetAt: new Date(START.getTime() + 60_000) });
  });
});
