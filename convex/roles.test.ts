// @vitest-environment edge-runtime
// requireRole: the `roles` claim (an array, as the customJwt form passes it) gates a function.
import { convexTest } from "convex-test";
import { expect, test } from "vitest";
import { api } from "./_generated/api.js";
import schema from "./schema.js";
import { serviceIdentity, userIdentity } from "./test.identities.js";
import { modules } from "./test.setup.js";

const admin = userIdentity("u_admin", { roles: ["admin", "editor"], email: "admin@example.com", name: "Ada" });
const editor = userIdentity("u_editor", { roles: ["editor"] });

test("a person with the role passes requireRole", async () => {
  const t = convexTest(schema, modules);
  await t.withIdentity(admin).mutation(api.users.store, {});
  await t.withIdentity(editor).mutation(api.users.store, {});
  const listed = await t.withIdentity(admin).query(api.users.list, {});
  expect(listed.map((user) => user.subject).sort()).toEqual(["u_admin", "u_editor"]);
  expect(listed).toContainEqual({ subject: "u_admin", email: "admin@example.com", name: "Ada" });
});

test("without the role, without a roles claim, or with a claim that is not an array of strings, it is refused", async () => {
  const t = convexTest(schema, modules);
  await expect(t.withIdentity(editor).query(api.users.list, {})).rejects.toThrow("Requires the role admin");
  await expect(t.withIdentity(userIdentity("u_plain")).query(api.users.list, {})).rejects.toThrow("Requires the role admin");
  // A string is not an array: "admin" as a string must not pass a substring or equality check.
  await expect(t.withIdentity(userIdentity("u_odd", { roles: "admin" })).query(api.users.list, {})).rejects.toThrow("Requires the role admin");
  await expect(t.withIdentity(userIdentity("u_odd2", { roles: [1, { admin: true }] })).query(api.users.list, {})).rejects.toThrow("Requires the role admin");
});

test("signed out, and services, are refused", async () => {
  const t = convexTest(schema, modules);
  await expect(t.query(api.users.list, {})).rejects.toThrow("Not signed in");
  await expect(t.withIdentity(serviceIdentity()).query(api.users.list, {})).rejects.toThrow("Services cannot act as users");
});
