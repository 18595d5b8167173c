// Operator actions against real PostgreSQL: each writes exactly its audit row, in the same transaction
// as the change; the password policy guards every way a password is set; audit_events is append-only.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { InvalidInputError } from "../../idp/accounts/operator.ts";
import { createPasswordHasher, type PasswordHasher } from "../../idp/accounts/passwords.ts";
import { createAuditStore } from "../../idp/store/audit.ts";
import { createOidcPayloadStore } from "../../idp/store/oidc-payloads.ts";
import { accountKey, createLockout, lockoutPolicy } from "../../idp/abuse/lockout.ts";
import { loadConfig } from "../../idp/config.ts";
import { createPostgresRateLimitStore } from "../../idp/store/rate-limits.ts";
import { createPostgresTestDatabase, type TestDatabase } from "../support/database.ts";
import { createTestOperator, type TestOperator } from "../support/operator.ts";

const realHasher = createPasswordHasher({ memoryCost: 19456, timeCost: 2, parallelism: 1 });
let hashCalls = 0;
// The real hasher, counted, to show that refused passwords are never hashed.
const hasher: PasswordHasher = {
  ...realHasher,
  hash: (password) => {
    hashCalls += 1;
    return realHasher.hash(password);
  },
};

const CLOCK = new Date("2031-03-04T05:06:07.000Z");

type Row = {
  event: string;
  actor: string;
  user_id: string | null;
  email: string | null;
  client_id: string | null;
  ip: string | null;
  user_agent: string | null;
  details: Record<string, unknown>;
  occurred_at: Date;
};

let database: TestDatabase;
let admin: TestOperator;
let seen = 0;

const allRows = async () => (await database.db.query<Row & { id: string }>("SELECT * FROM audit_events ORDER BY id")).rows;

/** The audit rows written since the last call. */
async function newRows(): Promise<Row[]> {
  const rows = await allRows();
  const fresh = rows.slice(seen);
  seen = rows.length;
  return fresh.map(({ id: _id, ...row }) => row);
}

const expected = (row: Partial<Row>): Row => ({
  actor: "cli",
  user_id: null,
  email: null,
  client_id: null,
  ip: null,
  user_agent: null,
  occurred_at: CLOCK,
  event: "",
  ...row,
  details: { os_user: "operator", ...row.details },
});

beforeAll(async () => {
  database = await createPostgresTestDatabase();
  admin = createTestOperator(database.db, { hasher, actorDetails: { os_user: "operator" }, now: () => CLOCK });
});

afterAll(async () => {
  await admin?.close();
  await database?.destroy();
});

beforeEach(async () => {
  await newRows();
  hashCalls = 0;
});

describe("each operator action writes exactly its audit row", () => {
  let userId: string;

  it("users add: user.created", async () => {
    const user = await admin.addUser({ email: "Alice@Example.com", name: "Alice", password: "violet tractor sandwich" });
    userId = user.id;
    expect(await newRows()).toEqual([expected({ event: "user.created", user_id: user.id, email: "Alice@Example.com" })]);
  });

  it("users set-password: password.changed", async () => {
    await admin.setPassword("alice@example.com", "another violet tractor");
    expect(await newRows()).toEqual([expected({ event: "password.changed", user_id: userId, email: "Alice@Example.com" })]);
  });

  it("users disable and enable: user.disabled, user.enabled", async () => {
    await admin.setDisabled("alice@example.com", true);
    await admin.setDisabled("ALICE@example.com", false);
    expect(await newRows()).toEqual([
      expected({ event: "user.disabled", user_id: userId, email: "Alice@Example.com" }),
      expected({ event: "user.enabled", user_id: userId, email: "Alice@Example.com" }),
    ]);
    expect((await admin.users.findById(userId))?.disabled).toBe(false);
  });

  it("clients add: client.created, with the kind of client and never its secret", async () => {
    await admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: ["http://localhost:5173/cb"] });
    const { secret } = await admin.addClient({ id: "partner", public: false, firstParty: false, redirectUris: ["https://partner.example/cb"] });
    await admin.addClient({ id: "worker", public: false, firstParty: false, service: true, redirectUris: [] });
    expect(secret).toBeTruthy();
    expect(await newRows()).toEqual([
      expected({ event: "client.created", client_id: "web", details: { kind: "public", first_party: true } }),
      expected({ event: "client.created", client_id: "partner", details: { kind: "confidential", first_party: false } }),
      expected({ event: "client.created", client_id: "worker", details: { kind: "service", first_party: false } }),
    ]);
  });

  it("clients remove: client.removed", async () => {
    await admin.removeClient("worker");
    expect(await newRows()).toEqual([expected({ event: "client.removed", client_id: "worker" })]);
  });

  it("users unlock: account.unlocked, whether or not the email was locked, known or not", async () => {
    const hank = await admin.addUser({ email: "Hank@Example.com", password: "violet tractor sandwich" });
    await newRows();
    // Locked the way sign-in locks it: failures counted in the same counters the operator clears.
    const lockout = createLockout(createPostgresRateLimitStore(database.db, () => CLOCK), lockoutPolicy(loadConfig({})), () => CLOCK);
    for (let i = 0; i < lockout.policy.threshold; i++) await lockout.recordFailure(accountKey("hank@example.com"));
    expect(await lockout.lockedFor(accountKey("hank@example.com"))).toBeGreaterThan(0);

    expect(await admin.unlock(" HANK@example.com")).toBe(true);
    expect(await lockout.lockedFor(accountKey("hank@example.com"))).toBeUndefined();
    expect(await admin.unlock("nobody@example.com")).toBe(false);
    expect(await newRows()).toEqual([
      expected({ event: "account.unlocked", user_id: hank.id, email: "HANK@example.com", details: { reason: "operator", wasLocked: true } }),
      expected({ event: "account.unlocked", email: "nobody@example.com", details: { reason: "operator", wasLocked: false } }),
    ]);
  });

  it("keys generate: key.generated, with the key id", async () => {
    await admin.keyGenerated("kid-123");
    expect(await newRows()).toEqual([expected({ event: "key.generated", details: { kid: "kid-123" } })]);
  });

  it("a refused action writes no row", async () => {
    await expect(admin.addUser({ email: "alice@example.com", password: "violet tractor sandwich" })).rejects.toThrow(/already exists/);
    await expect(admin.addUser({ email: "bob@example.com", password: "password" })).rejects.toBeInstanceOf(InvalidInputError);
    await expect(admin.setPassword("nobody@example.com", "violet tractor sandwich")).rejects.toThrow(/no user/);
    await expect(admin.setDisabled("nobody@example.com", true)).rejects.toThrow(/no user/);
    await expect(admin.removeClient("worker")).rejects.toThrow(/no client/);
    await expect(admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: ["http://localhost:5173/cb"] })).rejects.toThrow(
      /already exists/,
    );
    expect(await newRows()).toEqual([]);
  });
});

describe("the change and its audit row commit together or not at all", () => {
  // While this trigger exists, every audit insert fails: the change it belongs to must roll back too.
  beforeAll(async () => {
    await database.db.query(`CREATE FUNCTION audit_fails() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'audit insert failed (test)'; END; $$`);
  });
  beforeEach(async () => {
    await database.db.query("CREATE TRIGGER audit_fails BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_fails()");
  });
  const dropTrigger = () => database.db.query("DROP TRIGGER IF EXISTS audit_fails ON audit_events");

  it("users add", async () => {
    await expect(admin.addUser({ email: "carol@example.com", password: "violet tractor sandwich" })).rejects.toThrow(/audit insert failed/);
    await dropTrigger();
    expect(await admin.users.findByEmail("carol@example.com")).toBeUndefined();
  });

  it("users set-password", async () => {
    const before = (await admin.users.findByEmail("alice@example.com"))!.passwordHash;
    await expect(admin.setPassword("alice@example.com", "a third violet tractor")).rejects.toThrow(/audit insert failed/);
    await dropTrigger();
    expect((await admin.users.findByEmail("alice@example.com"))!.passwordHash).toBe(before);
  });

  it("users disable", async () => {
    await expect(admin.setDisabled("alice@example.com", true)).rejects.toThrow(/audit insert failed/);
    await dropTrigger();
    expect((await admin.users.findByEmail("alice@example.com"))!.disabled).toBe(false);
  });

  it("clients add", async () => {
    await expect(admin.addClient({ id: "other", public: true, firstParty: true, redirectUris: ["http://localhost:5173/cb"] })).rejects.toThrow(
      /audit insert failed/,
    );
    await dropTrigger();
    expect(await admin.clients.find("other")).toBeUndefined();
  });

  it("clients remove, with everything issued to the client", async () => {
    await createOidcPayloadStore(database.db).upsert("Grant", "grant-1", { clientId: "partner", accountId: "a" }, 3600);
    await expect(admin.removeClient("partner")).rejects.toThrow(/audit insert failed/);
    await dropTrigger();
    expect(await admin.clients.find("partner")).toBeDefined();
    expect(await createOidcPayloadStore(database.db).find("Grant", "grant-1")).toBeDefined();
  });

  afterAll(async () => {
    await dropTrigger();
    expect(await newRows()).toEqual([]);
  });
});

describe("the change and its audit row are written by one transaction", () => {
  // Triggers note the id of the transaction behind every row written to these tables.
  const tables = ["users", "clients", "oidc_payloads", "audit_events"];
  beforeAll(async () => {
    await database.db.query("CREATE TABLE xact_log (seq bigserial, tbl text, op text, xact bigint)");
    await database.db.query(`CREATE FUNCTION log_xact() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO xact_log (tbl, op, xact) VALUES (TG_TABLE_NAME, TG_OP, txid_current()); RETURN NULL; END; $$`);
    for (const table of tables) {
      await database.db.query(`CREATE TRIGGER log_xact AFTER INSERT OR UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION log_xact()`);
    }
  });
  afterAll(async () => {
    for (const table of tables) await database.db.query(`DROP TRIGGER log_xact ON ${table}`);
    await newRows();
  });

  /** Runs the action; returns the transactions that wrote each table, in order. */
  async function transactionsOf(action: () => Promise<unknown>): Promise<Record<string, string[]>> {
    await database.db.query("TRUNCATE xact_log");
    await action();
    const { rows } = await database.db.query<{ tbl: string; xact: string }>("SELECT tbl, xact FROM xact_log ORDER BY seq");
    const byTable: Record<string, string[]> = {};
    for (const row of rows) (byTable[row.tbl] ??= []).push(row.xact);
    return byTable;
  }

  const actions: [string, string, () => Promise<unknown>][] = [
    ["users add", "users", () => admin.addUser({ email: "gina@example.com", password: "violet tractor sandwich" })],
    ["users set-password", "users", () => admin.setPassword("gina@example.com", "another violet tractor")],
    ["users disable", "users", () => admin.setDisabled("gina@example.com", true)],
    ["clients add", "clients", () => admin.addClient({ id: "third", public: true, firstParty: true, redirectUris: ["http://localhost:5173/cb"] })],
    ["clients remove", "clients", () => admin.removeClient("third")],
  ];
  it.each(actions)("%s", async (_name, table, action) => {
    const written = await transactionsOf(action);
    expect(written.audit_events).toHaveLength(1);
    expect(written[table]).toHaveLength(1);
    expect(written[table]![0]).toBe(written.audit_events![0]);
  });
});

describe("the password policy applies wherever a password is set", () => {
  it("refuses a common password, the email, or a too-short or too-long one, before hashing", async () => {
    await admin.addUser({ email: "frank.example@example.com", password: "violet tractor sandwich" });
    await newRows();
    hashCalls = 0;
    const refusals: [string, RegExp][] = [
      ["password", /most commonly used/],
      ["12345678", /most commonly used/],
      ["Qwertyuiop", /most commonly used/],
      ["iloveyou", /most commonly used/],
      ["dave.example@example.com", /must not be the email address/],
      ["dave.example", /must not be the email address/],
      ["seven77", /at least 8 characters/],
      ["x".repeat(129), /at most 128 characters/],
      ["🔑".repeat(129), /at most 128 characters/],
    ];
    for (const [password, message] of refusals) {
      const added = admin.addUser({ email: "dave.example@example.com", password });
      await expect(added, password).rejects.toBeInstanceOf(InvalidInputError);
      await expect(added, password).rejects.toThrow(message);
      const set = admin.setPassword("frank.example@example.com", password.replace("dave", "frank"));
      await expect(set, password).rejects.toThrow(message);
    }
    expect(hashCalls).toBe(0);
    expect(await admin.users.findByEmail("dave.example@example.com")).toBeUndefined();
    expect(await newRows()).toEqual([]);
  });

  it("accepts 8 and 128 characters (emoji count as one)", async () => {
    await admin.addUser({ email: "erin@example.com", password: "🔑".repeat(8) });
    await admin.setPassword("erin@example.com", "🔑".repeat(128));
    expect(hashCalls).toBe(2);
    expect((await newRows()).map((row) => row.event)).toEqual(["user.created", "password.changed"]);
  });
});

describe("audit_events", () => {
  it("refuses UPDATE and DELETE", async () => {
    expect((await allRows()).length).toBeGreaterThan(0);
    await expect(database.db.query("UPDATE audit_events SET actor = 'someone else'")).rejects.toThrow(/append-only/);
    await expect(database.db.query("DELETE FROM audit_events")).rejects.toThrow(/append-only/);
    await expect(database.db.query("DELETE FROM audit_events WHERE event = 'user.created'")).rejects.toThrow(/append-only/);
    expect((await allRows()).every((row) => row.actor === "cli")).toBe(true);
  });

  it("lists by email (any case) or user id, since a time, and the most recent N oldest first", async () => {
    const audit = createAuditStore(database.db, () => new Date("2031-03-05T00:00:00Z"));
    const alice = (await admin.users.findByEmail("alice@example.com"))!;
    const byEmail = await audit.list({ email: "ALICE@example.COM" });
    expect(byEmail.map((event) => event.event)).toEqual(["user.created", "password.changed", "user.disabled", "user.enabled"]);
    expect(await audit.list({ email: alice.id })).toEqual(byEmail);

    await audit.record({ event: "user.disabled", actor: "cli", userId: alice.id });
    const since = await audit.list({ since: new Date("2031-03-04T12:00:00Z") });
    expect(since.map((event) => [event.event, event.userId, event.email])).toEqual([["user.disabled", alice.id, null]]);
    // An event that names the user by id only is still found by their email.
    expect((await audit.list({ email: "alice@example.com" })).at(-1)?.occurredAt).toEqual(new Date("2031-03-05T00:00:00Z"));

    const all = await audit.list();
    const lastTwo = await audit.list({ limit: 2 });
    expect(lastTwo).toEqual(all.slice(-2));
  });
});
