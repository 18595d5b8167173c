// The users table's phone numbers on PostgreSQL and on the embedded database: found by E.164, set
// and removed by id or email, one person per number, and nothing but E.164 stored.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConflictError, NotFoundError } from "../../idp/store/errors.ts";
import { createUserStore, type UserStore } from "../../idp/store/users.ts";
import { createEmbeddedTestDatabase, createPostgresTestDatabase, type TestDatabase } from "../support/database.ts";

describe.each([
  { name: "PostgreSQL", open: createPostgresTestDatabase },
  { name: "the embedded database", open: createEmbeddedTestDatabase },
])("phone numbers on $name", ({ open }) => {
  let database: TestDatabase;
  let users: UserStore;
  beforeAll(async () => {
    database = await open();
    users = createUserStore(database.db);
  }, 60_000);
  afterAll(async () => database?.destroy());

  it("creates users with and without a number, and finds them by it", async () => {
    const alice = await users.create({ email: "alice@example.com", phone: "+4915112345678", phoneVerified: true });
    const bob = await users.create({ email: "bob@example.com" });
    expect(alice).toMatchObject({ phone: "+4915112345678", phoneVerified: true });
    expect(bob).toMatchObject({ phone: null, phoneVerified: false });
    expect((await users.findByPhone("+4915112345678"))?.id).toBe(alice.id);
    expect(await users.findByPhone("+4915112345679")).toBeUndefined();
    // No number, nothing verified.
    expect(await users.create({ email: "carol@example.com", phoneVerified: true })).toMatchObject({ phone: null, phoneVerified: false });
  });

  it("sets and removes a number by id or by email; removing it unverifies", async () => {
    const bob = (await users.findByEmail("bob@example.com"))!;
    expect(await users.setPhone({ id: bob.id }, "+436641234567", true)).toMatchObject({ phone: "+436641234567", phoneVerified: true });
    expect(await users.setPhone({ email: "BOB@example.com" }, null, true)).toMatchObject({ phone: null, phoneVerified: false });
    expect((await users.findById(bob.id))!.phone).toBeNull();
    await expect(users.setPhone({ id: "no-such-id" }, "+436641234567", false)).rejects.toThrow(NotFoundError);
    await expect(users.setPhone({ email: "nobody@example.com" }, null, false)).rejects.toThrow(NotFoundError);
  });

  it("gives a number to one person at most", async () => {
    await expect(users.setPhone({ email: "bob@example.com" }, "+4915112345678", false)).rejects.toThrow(ConflictError);
    await expect(users.setPhone({ email: "bob@example.com" }, "+4915112345678", false)).rejects.toThrow("another user has the phone number +4915112345678");
    await expect(users.create({ email: "dave@example.com", phone: "+4915112345678" })).rejects.toThrow("another user has the phone number");
    // The email's own uniqueness still says so.
    await expect(users.create({ email: "ALICE@example.com" })).rejects.toThrow("a user with email ALICE@example.com already exists");
    expect((await users.findByEmail("bob@example.com"))!.phone).toBeNull();
  });

  it("stores only E.164", async () => {
    for (const phone of ["015112345678", "+49 151 12345678", "+0151", ""]) {
      await expect(users.setPhone({ email: "bob@example.com" }, phone, false), phone).rejects.toThrow(/check constraint/);
    }
  });
});
