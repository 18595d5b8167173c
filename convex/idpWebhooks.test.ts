// @vitest-environment edge-runtime
// The IdP's webhooks through the real HTTP action: messages signed with the `standardwebhooks`
// library the IdP signs with (fresh secrets, real HMACs), replays, tampered bodies and wrong secrets.
import { convexTest } from "convex-test";
import { Webhook } from "standardwebhooks";
import { afterEach, beforeEach, expect, test } from "vitest";
import { api } from "./_generated/api.js";
import schema from "./schema.js";
import { ISSUER, userIdentity } from "./test.identities.js";
import { modules } from "./test.setup.js";

/** A whsec_ secret as `idp webhooks add` prints it: 32 random bytes in base64. */
function newSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return `whsec_${btoa(String.fromCharCode(...bytes))}`;
}

let secret: string;
let counter = 0;

beforeEach(() => {
  secret = newSecret();
  process.env.IDP_WEBHOOK_SECRET = secret;
  process.env.IDP_ISSUER = ISSUER;
});
afterEach(() => {
  delete process.env.IDP_WEBHOOK_SECRET;
  delete process.env.IDP_ISSUER;
});

type Message = { id: string; body: string };

function message(type: string, data: Record<string, unknown>): Message {
  return { id: `msg_test${++counter}`, body: JSON.stringify({ type, timestamp: new Date().toISOString(), data }) };
}

/** The headers the IdP sends with a message, signed at `at` with `key`. */
function signed(msg: Message, key = secret, at = new Date()): Record<string, string> {
  return {
    "content-type": "application/json",
    "webhook-id": msg.id,
    "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
    "webhook-signature": new Webhook(key).sign(msg.id, at, msg.body),
  };
}

function post(t: ReturnType<typeof convexTest>, msg: Message, headers = signed(msg), body = msg.body) {
  return t.fetch("/idp-webhook", { method: "POST", headers, body });
}

const alice = (more: Record<string, unknown> = {}) => ({
  id: "u_alice",
  email: "alice@example.com",
  email_verified: true,
  name: "Alice Example",
  picture: "https://example.com/alice.png",
  phone_number: null,
  phone_number_verified: false,
  disabled: false,
  created_at: 1_700_000_000,
  updated_at: 1_700_000_000,
  ...more,
});

const users = (t: ReturnType<typeof convexTest>) => t.run((ctx) => ctx.db.query("users").collect());

test("user.created makes the document users.store would make, under the same tokenIdentifier", async () => {
  const t = convexTest(schema, modules);
  const response = await post(t, message("user.created", alice()));
  expect(response.status).toBe(204);
  const stored = await users(t);
  expect(stored).toHaveLength(1);
  expect(stored[0]).toMatchObject({
    tokenIdentifier: `${ISSUER}|u_alice`,
    subject: "u_alice",
    email: "alice@example.com",
    emailVerified: true,
    name: "Alice Example",
    pictureUrl: "https://example.com/alice.png",
    disabled: false,
  });
  // The person signing in later finds the same document.
  expect(await t.withIdentity(userIdentity("u_alice")).query(api.users.current, {})).toMatchObject({ _id: stored[0]!._id });
});

test("updates, disabling and enabling change the document; a field no longer given is dropped", async () => {
  const t = convexTest(schema, modules);
  await post(t, message("user.created", alice()));
  await post(t, message("user.updated", alice({ name: "Alice Liddell", picture: null })));
  expect((await users(t))[0]).toMatchObject({ name: "Alice Liddell" });
  expect((await users(t))[0]).not.toHaveProperty("pictureUrl");
  await post(t, message("user.disabled", alice({ disabled: true })));
  expect((await users(t))[0]!.disabled).toBe(true);
  await post(t, message("user.enabled", alice()));
  expect((await users(t))[0]!.disabled).toBe(false);
  // An update for a user Convex has not seen yet creates them.
  await post(t, message("user.updated", alice({ id: "u_bob", email: "bob@example.com" })));
  expect((await users(t)).map((user) => user.subject)).toEqual(["u_alice", "u_bob"]);
});

test("a replayed message (same webhook-id, signed again) is taken and changes nothing", async () => {
  const t = convexTest(schema, modules);
  const created = message("user.created", alice());
  await post(t, created);
  await post(t, message("user.updated", alice({ name: "Alice Liddell" })));
  // The IdP resends the first message (its 2xx was lost): at least once, deduplicated here.
  const replay = await post(t, created, signed(created));
  expect(replay.status).toBe(204);
  const stored = await users(t);
  expect(stored).toHaveLength(1);
  expect(stored[0]!.name).toBe("Alice Liddell");
  const seen = await t.run((ctx) => ctx.db.query("idpWebhooks").collect());
  expect(seen.map((entry) => entry.type)).toEqual(["user.created", "user.updated"]);
});

test("user.deleted removes the person's document and tasks; session.revoked marks them", async () => {
  const t = convexTest(schema, modules);
  await post(t, message("user.created", alice()));
  await t.withIdentity(userIdentity("u_alice")).mutation(api.tasks.create, { text: "write the report" });
  const revoked = message("session.revoked", { id: "u_alice", reason: "password_reset" });
  await post(t, revoked);
  expect((await users(t))[0]!.sessionsRevokedAt).toBe(Date.parse(JSON.parse(revoked.body).timestamp));
  expect(await post(t, message("user.deleted", { id: "u_alice" }))).toHaveProperty("status", 204);
  expect(await users(t)).toHaveLength(0);
  expect(await t.run((ctx) => ctx.db.query("tasks").collect())).toHaveLength(0);
  // Deleting someone Convex never saw is taken too.
  expect(await post(t, message("user.deleted", { id: "u_nobody" }))).toHaveProperty("status", 204);
});

test("a tampered body, a wrong secret, missing headers or an old timestamp are refused with 401 and change nothing", async () => {
  const t = convexTest(schema, modules);
  const msg = message("user.created", alice());
  const tampered = msg.body.replace("alice@example.com", "mallory@example.com");
  expect((await post(t, msg, signed(msg), tampered)).status).toBe(401);
  expect((await post(t, msg, signed(msg, newSecret()))).status).toBe(401);
  const { "webhook-signature": _, ...unsigned } = signed(msg);
  expect((await post(t, msg, unsigned)).status).toBe(401);
  // Signed correctly, but ten minutes ago: a captured message replayed later.
  expect((await post(t, msg, signed(msg, secret, new Date(Date.now() - 10 * 60_000)))).status).toBe(401);
  // The same webhook-id under another id's signature.
  const other = message("user.created", alice());
  expect((await post(t, msg, signed(other), msg.body)).status).toBe(401);
  expect(await users(t)).toHaveLength(0);
  expect(await t.run((ctx) => ctx.db.query("idpWebhooks").collect())).toHaveLength(0);
  // The genuine message still goes through afterwards: the refusals recorded nothing.
  expect((await post(t, msg)).status).toBe(204);
  expect(await users(t)).toHaveLength(1);
});

test("a type the app does not store (idp webhooks test) is taken and ignored; without the secret nothing is taken", async () => {
  const t = convexTest(schema, modules);
  expect((await post(t, message("webhook.test", { endpoint: "ep_1" }))).status).toBe(204);
  expect(await t.run((ctx) => ctx.db.query("idpWebhooks").collect())).toHaveLength(0);
  delete process.env.IDP_WEBHOOK_SECRET;
  const msg = message("user.created", alice());
  expect((await post(t, msg)).status).toBe(500);
  expect(await users(t)).toHaveLength(0);
});
