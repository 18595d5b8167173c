// @vitest-environment edge-runtime
import { convexTest } from "convex-test";
import { expect, test } from "vitest";
import { api } from "./_generated/api.js";
import schema from "./schema.js";
import { serviceIdentity, userIdentity } from "./test.identities.js";
import { modules } from "./test.setup.js";

const alice = userIdentity("u_alice");

test("store creates the user from the token's claims", async () => {
  const t = convexTest(schema, modules);
  const id = await t.withIdentity(alice).mutation(api.users.store, {});
  const users = await t.run((ctx) => ctx.db.query("users").collect());
  expect(users).toHaveLength(1);
  expect(users[0]).toMatchObject({
    _id: id,
    tokenIdentifier: alice.tokenIdentifier,
    subject: "u_alice",
    email: "alice@example.com",
    emailVerified: true,
    name: "Alice Example",
    pictureUrl: "https://example.com/alice.png",
  });
});

test("store again updates the same document instead of adding one", async () => {
  const t = convexTest(schema, modules);
  const first = await t.withIdentity(alice).mutation(api.users.store, {});
  // The same user after a profile change; the new token no longer has a picture.
  const changed = userIdentity("u_alice", { name: "Alice Liddell", email_verified: false, picture: null });
  const second = await t.withIdentity(changed).mutation(api.users.store, {});
  const third = await t.withIdentity(changed).mutation(api.users.store, {});
  expect(second).toBe(first);
  expect(third).toBe(first);
  const users = await t.run((ctx) => ctx.db.query("users").collect());
  expect(users).toHaveLength(1);
  expect(users[0]).toMatchObject({ name: "Alice Liddell", emailVerified: false, email: "alice@example.com" });
  expect(users[0]).not.toHaveProperty("pictureUrl");
});

test("another subject is another user", async () => {
  const t = convexTest(schema, modules);
  const a = await t.withIdentity(alice).mutation(api.users.store, {});
  const b = await t.withIdentity(userIdentity("u_bob", { name: "Bob" })).mutation(api.users.store, {});
  expect(b).not.toBe(a);
});

test("current: null signed out, null before store, the document after", async () => {
  const t = convexTest(schema, modules);
  expect(await t.query(api.users.current, {})).toBeNull();
  expect(await t.withIdentity(alice).query(api.users.current, {})).toBeNull();
  const id = await t.withIdentity(alice).mutation(api.users.store, {});
  expect(await t.withIdentity(alice).query(api.users.current, {})).toMatchObject({ _id: id, name: "Alice Example" });
  expect(await t.withIdentity(userIdentity("u_bob")).query(api.users.current, {})).toBeNull();
});

test("signed out, store is rejected", async () => {
  const t = convexTest(schema, modules);
  await expect(t.mutation(api.users.store, {})).rejects.toThrow("Not signed in");
});

test("a service cannot store or read a user", async () => {
  const t = convexTest(schema, modules);
  const worker = t.withIdentity(serviceIdentity());
  await expect(worker.mutation(api.users.store, {})).rejects.toThrow("Services cannot act as users");
  await expect(worker.query(api.users.current, {})).rejects.toThrow("Services cannot act as users");
  expect(await t.run((ctx) => ctx.db.query("users").collect())).toHaveLength(0);
});

test("viewer: null signed out, the token's subject and email signed in, before and after store", async () => {
  const t = convexTest(schema, modules);
  expect(await t.query(api.users.viewer, {})).toBeNull();
  const expected = { subject: "u_alice", tokenIdentifier: alice.tokenIdentifier, email: "alice@example.com", name: "Alice Example" };
  expect(await t.withIdentity(alice).query(api.users.viewer, {})).toEqual(expected);
  await t.withIdentity(alice).mutation(api.users.store, {});
  expect(await t.withIdentity(alice).query(api.users.viewer, {})).toEqual(expected);
  // A claim of the wrong type is absent, as in store.
  expect(await t.withIdentity(userIdentity("u_bob", { email: 42, name: "Bob" })).query(api.users.viewer, {})).toMatchObject({ subject: "u_bob", email: null });
  await expect(t.withIdentity(serviceIdentity()).query(api.users.viewer, {})).rejects.toThrow("Services cannot act as users");
});
