// @vitest-environment edge-runtime
import { convexTest } from "convex-test";
import { expect, test } from "vitest";
import { api } from "./_generated/api.js";
import schema from "./schema.js";
import { serviceIdentity, userIdentity } from "./test.identities.js";
import { modules } from "./test.setup.js";

const alice = userIdentity("u_alice");
const bob = userIdentity("u_bob", { email: "bob@example.com", name: "Bob" });
const worker = serviceIdentity("inference-worker");

async function setup() {
  const t = convexTest(schema, modules);
  const aliceId = await t.withIdentity(alice).mutation(api.users.store, {});
  await t.withIdentity(bob).mutation(api.users.store, {});
  return { t, aliceId };
}

test("a user adds tasks and sees only their own", async () => {
  const { t, aliceId } = await setup();
  const taskId = await t.withIdentity(alice).mutation(api.tasks.create, { text: "summarise" });
  await t.withIdentity(bob).mutation(api.tasks.create, { text: "translate" });
  const mine = await t.withIdentity(alice).query(api.tasks.mine, {});
  expect(mine).toHaveLength(1);
  expect(mine[0]).toMatchObject({ _id: taskId, text: "summarise", status: "pending", userId: aliceId });
});

test("create needs users.store first", async () => {
  const t = convexTest(schema, modules);
  await expect(t.withIdentity(alice).mutation(api.tasks.create, { text: "x" })).rejects.toThrow("Unknown user");
  expect(await t.withIdentity(alice).query(api.tasks.mine, {})).toStrictEqual([]);
});

test("a service lists pending tasks and completes one", async () => {
  const { t, aliceId } = await setup();
  const first = await t.withIdentity(alice).mutation(api.tasks.create, { text: "summarise" });
  const second = await t.withIdentity(bob).mutation(api.tasks.create, { text: "translate" });

  const pending = await t.withIdentity(worker).query(api.tasks.pending, {});
  expect(pending.map((task) => task._id)).toStrictEqual([first, second]);
  // The worker sees the user's id, nothing of their profile.
  expect(Object.keys(pending[0]!).sort()).toStrictEqual(["_creationTime", "_id", "status", "text", "userId"]);
  expect(pending[0]!.userId).toBe(aliceId);

  await t.withIdentity(worker).mutation(api.tasks.complete, { taskId: first, result: "a summary" });
  expect((await t.withIdentity(worker).query(api.tasks.pending, {})).map((task) => task._id)).toStrictEqual([second]);
  expect(await t.withIdentity(alice).query(api.tasks.mine, {})).toMatchObject([
    { _id: first, status: "done", result: "a summary" },
  ]);
  await expect(
    t.withIdentity(worker).mutation(api.tasks.complete, { taskId: first, result: "again" }),
  ).rejects.toThrow("Task already done");
});

test("a service cannot act as a user", async () => {
  const { t } = await setup();
  await expect(t.withIdentity(worker).mutation(api.tasks.create, { text: "x" })).rejects.toThrow(
    "Services cannot act as users",
  );
  await expect(t.withIdentity(worker).query(api.tasks.mine, {})).rejects.toThrow("Services cannot act as users");
});

test("a user cannot call the service functions", async () => {
  const { t } = await setup();
  const taskId = await t.withIdentity(alice).mutation(api.tasks.create, { text: "summarise" });
  await expect(t.withIdentity(alice).query(api.tasks.pending, {})).rejects.toThrow(
    "Only services can call this function",
  );
  await expect(t.withIdentity(alice).mutation(api.tasks.complete, { taskId, result: "forged" })).rejects.toThrow(
    "Only services can call this function",
  );
  // Nothing changed.
  expect(await t.withIdentity(alice).query(api.tasks.mine, {})).toMatchObject([{ status: "pending" }]);
});

test("signed-out calls are rejected", async () => {
  const { t } = await setup();
  const taskId = await t.withIdentity(alice).mutation(api.tasks.create, { text: "summarise" });
  await expect(t.mutation(api.tasks.create, { text: "x" })).rejects.toThrow("Not signed in");
  await expect(t.query(api.tasks.mine, {})).rejects.toThrow("Not signed in");
  await expect(t.query(api.tasks.pending, {})).rejects.toThrow("Not signed in");
  await expect(t.mutation(api.tasks.complete, { taskId, result: "x" })).rejects.toThrow("Not signed in");
});
