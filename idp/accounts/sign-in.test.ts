// Password sign-in against a real database: every failure costs one argon2 verification, disabled
// accounts are only revealed to someone with the password, and old hashes are upgraded.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPostgresTestDatabase, type TestDatabase } from "../../test/support/database.ts";
import { createUserStore } from "../store/users.ts";
import { createPasswordHasher, type PasswordHasher } from "./passwords.ts";
import { createPasswordSignIn } from "./sign-in.ts";

const OWASP = { memoryCost: 19456, timeCost: 2, parallelism: 1 };

/** The real hasher, counting how many argon2 verifications each call makes. */
function countingHasher(params = OWASP) {
  const hasher = createPasswordHasher(params);
  const counter = { verifications: 0 };
  const counted: PasswordHasher = {
    ...hasher,
    verify: async (hash, password) => {
      counter.verifications++;
      return hasher.verify(hash, password);
    },
    verifyDummy: async (password) => {
      counter.verifications++;
      return hasher.verifyDummy(password);
    },
  };
  return { hasher: counted, counter };
}

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

  it("signs in with the right password, matching the email case-insensitively", async () => {
    const { hasher } = countingHasher();
    const result = await createPasswordSignIn(createUserStore(database.db), hasher)(" alice@EXAMPLE.com ", "alice's password");
    expect(result).toMatchObject({ ok: true, user: { email: "Alice@Example.com" } });
  });

  it.each([
    ["an unknown email", "nobody@example.com", "whatever password"],
    ["a wrong password", "alice@example.com", "not alice's password"],
    ["a user without a password", "nopass@example.com", "whatever password"],
  ])("refuses %s with the same reason after exactly one argon2 verification", async (_case, email, password) => {
    const { hasher, counter } = countingHasher();
    const result = await createPasswordSignIn(createUserStore(database.db), hasher)(email, password);
    expect(result).toEqual({ ok: false, reason: "invalid_credentials" });
    expect(counter.verifications).toBe(1);
  });

  it("tells a disabled user only after the right password", async () => {
    const signIn = createPasswordSignIn(createUserStore(database.db), countingHasher().hasher);
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
