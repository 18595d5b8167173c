// The lockout policy through password sign-in on a real database, with an injected clock and the
// progressive delay recorded instead of waited: the delay schedule and its cap, the lock and its
// growth, unknown emails counted like real ones, a burst of concurrent failures locking once, and
// the normalisation that keeps every spelling of one email on one counter.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { accountKey, createLockout, delayAfter, type LockoutPolicy } from "../../idp/abuse/lockout.ts";
import { createPasswordHasher } from "../../idp/accounts/passwords.ts";
import { createPasswordSignIn } from "../../idp/accounts/sign-in.ts";
import { createAuditStore } from "../../idp/store/audit.ts";
import { createPostgresRateLimitStore } from "../../idp/store/rate-limits.ts";
import { createUserStore } from "../../idp/store/users.ts";
import { createPostgresTestDatabase, type TestDatabase } from "../support/database.ts";

// Cheap argon2: this file is about counting, not hashing.
const hasher = createPasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1 });
const DEFAULTS: LockoutPolicy = { threshold: 5, failureWindowSeconds: 900, durationSeconds: 900, maxDurationSeconds: 3600, delayMaxMs: 2000 };

let database: TestDatabase;
let offsetMs = 0;
const now = () => new Date(Date.UTC(2032, 0, 1) + offsetMs);
const advance = (seconds: number) => {
  offsetMs += seconds * 1000;
};

beforeAll(async () => {
  database = await createPostgresTestDatabase();
  await createUserStore(database.db).create({ email: "Alice@Example.com", passwordHash: await hasher.hash("alice's password") });
});
afterAll(async () => database?.destroy());
beforeEach(() => advance(2 * 24 * 3600)); // past every earlier lock and its history

function signIn(policy: Partial<LockoutPolicy> = {}) {
  const sleeps: number[] = [];
  const store = createPostgresRateLimitStore(database.db, now);
  const lockout = createLockout(store, { ...DEFAULTS, ...policy }, now);
  const run = createPasswordSignIn(createUserStore(database.db), hasher, {
    lockout,
    audit: createAuditStore(database.db, now),
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
  return { run, sleeps, lockout };
}

describe("progressive delay and lockout", () => {
  it("delays failures 2 to 4 by 250, 500 and 1000 ms, locks at the 5th for 15 minutes, and lets the lock run out", async () => {
    const { run, sleeps } = signIn();
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await run("alice@example.com", "wrong"));
    expect(results.slice(0, 4)).toEqual(Array(4).fill({ ok: false, reason: "invalid_credentials" }));
    expect(results[4]).toEqual({ ok: false, reason: "locked", retryAfterSeconds: 900 });
    expect(sleeps).toEqual([250, 500, 1000]);

    advance(899);
    expect(await run("alice@example.com", "alice's password")).toEqual({ ok: false, reason: "locked", retryAfterSeconds: 1 });
    advance(1);
    expect(await run("alice@example.com", "alice's password")).toMatchObject({ ok: true });
    expect(sleeps).toEqual([250, 500, 1000]); // locked attempts and successes never wait
  });

  it("treats an unknown email exactly like a registered one", async () => {
    const known = signIn();
    const unknown = signIn();
    const knownResults = [];
    const unknownResults = [];
    for (let i = 0; i < 6; i++) {
      knownResults.push(await known.run("alice@example.com", "wrong"));
      unknownResults.push(await unknown.run("nobody@example.com", "wrong"));
    }
    expect(unknownResults).toEqual(knownResults);
    expect(unknown.sleeps).toEqual(known.sleeps);
  });

  it("caps the delay when the threshold is higher, and never locks with threshold 0", async () => {
    const { run, sleeps } = signIn({ threshold: 0, delayMaxMs: 1500 });
    for (let i = 0; i < 8; i++) expect(await run("alice@example.com", "wrong")).toEqual({ ok: false, reason: "invalid_credentials" });
    expect(sleeps).toEqual([250, 500, 1000, 1500, 1500, 1500, 1500]);
    expect(delayAfter(40, 2000)).toBe(2000);
    expect(delayAfter(1, 2000)).toBe(0);
    expect(delayAfter(5, 0)).toBe(0);
  });

  it("forgets failures older than the failure window", async () => {
    const { run } = signIn();
    for (let i = 0; i < 4; i++) await run("alice@example.com", "wrong");
    advance(900);
    for (let i = 0; i < 4; i++) expect(await run("alice@example.com", "wrong")).toEqual({ ok: false, reason: "invalid_credentials" });
    expect(await run("alice@example.com", "wrong")).toMatchObject({ reason: "locked" });
  });

  it("doubles each further lock within a day up to the maximum, and starts again after a quiet day", async () => {
    const { run } = signIn();
    const locks: number[] = [];
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 4; i++) await run("alice@example.com", "wrong");
      const result = await run("alice@example.com", "wrong");
      if (result.ok || result.reason !== "locked") throw new Error("expected a lock");
      locks.push(result.retryAfterSeconds);
      advance(result.retryAfterSeconds);
    }
    expect(locks).toEqual([900, 1800, 3600, 3600]);
    advance(24 * 3600);
    for (let i = 0; i < 4; i++) await run("alice@example.com", "wrong");
    expect(await run("alice@example.com", "wrong")).toEqual({ ok: false, reason: "locked", retryAfterSeconds: 900 });
  });

  it("locks once for a burst of concurrent failures, and audits the lock once", async () => {
    const { run } = signIn({ delayMaxMs: 0 });
    const since = now();
    const results = await Promise.all(Array.from({ length: 12 }, () => run("burst@example.com", "wrong")));
    expect(results.filter((result) => !result.ok && result.reason === "locked").length).toBeGreaterThanOrEqual(1);
    const events = await createAuditStore(database.db).list({ email: "burst@example.com", since });
    const locked = events.filter((event) => event.event === "account.locked");
    expect(locked).toHaveLength(1);
    expect(locked[0]!.details).toMatchObject({ lockedForSeconds: 900, lockouts: 1 });
  });

  it("keeps every spelling the database would match to one account on one counter", async () => {
    expect(accountKey("  Alice@Example.COM ")).toBe("alice@example.com");
    // PostgreSQL's lower() matches these to the same row; JavaScript's toLowerCase alone would not.
    expect(accountKey("Kİm@example.com")).toBe(accountKey("kim@example.com"));
    expect(accountKey("\u212Aim@example.com")).toBe(accountKey("kim@example.com")); // Kelvin sign
    expect(accountKey("ΟΔΥΣΣΕΥΣ@example.com")).toBe(accountKey("οδυσσευσ@example.com"));
    const { run } = signIn();
    for (const typed of ["ALICE@example.com", " alice@EXAMPLE.com", "Alice@Example.com", "alice@example.com "]) await run(typed, "wrong");
    expect(await run("aLiCe@example.com", "wrong")).toMatchObject({ reason: "locked" });
  });

  it("the operator's unlock clears the lock and the lock history", async () => {
    const { run, lockout } = signIn();
    for (let i = 0; i < 5; i++) await run("alice@example.com", "wrong");
    expect(await lockout.unlock(accountKey("ALICE@example.com"))).toBe(true);
    expect(await run("alice@example.com", "alice's password")).toMatchObject({ ok: true });
    for (let i = 0; i < 5; i++) await run("alice@example.com", "wrong");
    // History cleared: the next lock is the first one again, not twice as long.
    expect(await lockout.lockedFor(accountKey("alice@example.com"))).toBe(900);
    expect(await lockout.unlock("never-locked@example.com")).toBe(false);
  });
});
