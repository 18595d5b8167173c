// Password sign-in against a real database: every failure costs one argon2 verification at the
// configured cost, completed before the answer (watched in argon2 itself, not in our wrappers),
// disabled accounts are only revealed to someone with the password, and old hashes are upgraded.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import argon2 from "argon2";
import { createPostgresTestDatabase, type TestDatabase } from "../../test/support/database.ts";
import { createUserStore } from "../store/users.ts";
import { createPasswordHasher } from "./passwords.ts";
import { createPasswordSignIn } from "./sign-in.ts";

const OWASP = { memoryCost: 19456, timeCost: 2, parallelism: 1 };

type Verification = { algorithm: string; version: string; memoryCost: number; timeCost: number; parallelism: number; ended?: "true" | "false" | "threw" };

/** The parameters an encoded argon2 hash ($argon2id$v=19$m=…,p=…,t=…$salt$hash) makes verify spend. */
function costOf(hash: string): Omit<Verification, "ended"> {
  const match = /^\$(argon2(?:id|i|d))\$v=(\d+)\$([a-z]=\d+(?:,[a-z]=\d+)*)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/.exec(hash);
  const params = Object.fromEntries((match?.[3] ?? "").split(",").map((pair) => pair.split("=")));
  if (!match) return { algorithm: `not an argon2 hash: ${hash.slice(0, 40)}`, version: "", memoryCost: 0, timeCost: 0, parallelism: 0 };
  return { algorithm: match[1]!, version: match[2]!, memoryCost: Number(params.m), timeCost: Number(params.t), parallelism: Number(params.p) };
}

/**
 * Every argon2.verify the code under test runs, through the real library: the cost of the hash it
 * verified against, and how it ended (its answer, or that it threw) once it has ended.
 */
function watchArgon2(): Verification[] {
  const verifications: Verification[] = [];
  const verify = argon2.verify.bind(argon2);
  vi.spyOn(argon2, "verify").mockImplementation(async (hash, password, options) => {
    const verification: Verification = costOf(hash);
    verifications.push(verification);
    try {
      const ok = await verify(hash, password, options);
      verification.ended = ok ? "true" : "false";
      return ok;
    } catch (error) {
      verification.ended = "threw";
      throw error;
    }
  });
  return verifications;
}

/** One argon2id verification at the OWASP cost that had ended, with a no, when the sign-in answered. */
const ONE_FULL_VERIFICATION = [{ algorithm: "argon2id", version: "19", ...OWASP, ended: "false" }];

describe("password sign-in", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createPostgresTestDatabase();
    const users = createUserStore(database.db);
    const hasher = createPasswordHasher(OWASP);
    await users.create({ email: "Alice@Example.com", passwordHash: await hasher.hash("alice's password") });
    await users.create({ email: "nopass@example.com" });
    const disabled = await users.create({ email: "off@example.com", passwordHash: await hasher.hash("off password") });
    await users.setDisabled(disabled.email, true);
  });
  afterAll(async () => database?.destroy());
  afterEach(() => vi.restoreAllMocks());

  it("signs in with the right password, matching the email case-insensitively", async () => {
    const verifications = watchArgon2();
    const result = await createPasswordSignIn(createUserStore(database.db), createPasswordHasher(OWASP))(" alice@EXAMPLE.com ", "alice's password");
    expect(result).toMatchObject({ ok: true, user: { email: "Alice@Example.com" } });
    expect(verifications).toEqual([{ ...ONE_FULL_VERIFICATION[0], ended: "true" }]);
  });

  // The work is argon2's own: the hash it verified against carries the configured cost, and the
  // verification ran to its answer before the sign-in answered. Counting calls to our dummy function
  // would pass with a dummy that does nothing, uses a cheap hash, or is not awaited.
  it.each([
    ["an unknown email", "nobody@example.com", "whatever password"],
    ["a wrong password", "alice@example.com", "not alice's password"],
    ["a user without a password", "nopass@example.com", "whatever password"],
  ])("refuses %s with the same reason after one full argon2 verification at the configured cost", async (_case, email, password) => {
    const verifications = watchArgon2();
    const result = await createPasswordSignIn(createUserStore(database.db), createPasswordHasher(OWASP))(email, password);
    const atAnswer = structuredClone(verifications);
    expect(result).toEqual({ ok: false, reason: "invalid_credentials" });
    expect(atAnswer).toEqual(ONE_FULL_VERIFICATION);
  });

  it("costs an unknown email what a real account's stored hash costs", async () => {
    const stored = (await createUserStore(database.db).findByEmail("alice@example.com"))!.passwordHash!;
    const verifications = watchArgon2();
    await createPasswordSignIn(createUserStore(database.db), createPasswordHasher(OWASP))("nobody@example.com", "whatever password");
    expect(verifications.map(({ ended: _ended, ...cost }) => cost)).toEqual([costOf(stored)]);
  });

  it("tells a disabled user only after the right password", async () => {
    const signIn = createPasswordSignIn(createUserStore(database.db), createPasswordHasher(OWASP));
    expect(await signIn("off@example.com", "wrong password")).toEqual({ ok: false, reason: "invalid_credentials" });
    expect(await signIn("off@example.com", "off password")).toEqual({ ok: false, reason: "disabled" });
  });

  it("rehashes with the current parameters when they changed", async () => {
    const users = createUserStore(database.db);
    const weak = createPasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1 });
    await users.create({ email: "old@example.com", passwordHash: await weak.hash("old password") });
    const before = (await users.findByEmail("old@example.com"))!.passwordHash!;
    expect(before).toContain("$argon2id$v=19$m=8192,p=1,t=1$");

    const result = await createPasswordSignIn(users, createPasswordHasher(OWASP))("old@example.com", "old password");
    expect(result.ok).toBe(true);
    const after = (await users.findByEmail("old@example.com"))!.passwordHash!;
    expect(after).toContain("$argon2id$v=19$m=19456,p=1,t=2$");
    expect(await createPasswordHasher(OWASP).verify(after, "old password")).toBe(true);
  });
});
