// Audit retention on both databases: expireBefore() deletes only events older than its cutoff and
// records that it did; the table otherwise stays append-only (DELETE, UPDATE and TRUNCATE refused,
// also after a retention run in the same session). And a running IdP with AUDIT_RETENTION_DAYS set
// does it by itself every CLEANUP_INTERVAL.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuditStore } from "../../idp/store/audit.ts";
import { testDatabases, type TestDatabase } from "../support/database.ts";
import { startTestIdp } from "../support/idp.ts";

const DAY = 86_400_000;

describe.each(testDatabases)("audit retention on $kind", ({ create }) => {
  let database: TestDatabase;
  let clock = Date.parse("2031-01-01T00:00:00Z");
  const audit = () => createAuditStore(database.db, () => new Date(clock));
  const events = async () =>
    (await database.db.query<{ event: string; occurred_at: Date; details: Record<string, unknown> }>("SELECT event, occurred_at, details FROM audit_events ORDER BY id")).rows;

  beforeAll(async () => {
    database = await create();
    for (let day = 0; day < 5; day++) {
      await audit().record({ event: "sign_in.failed", actor: "anonymous", email: `day${day}@example.com`, details: { reason: "unknown_email" } });
      clock += DAY;
    }
  });
  afterAll(async () => database?.destroy());

  it("deletes only the events before the cutoff, and records the deletion", async () => {
    const cutoff = new Date(Date.parse("2031-01-03T00:00:00Z"));
    expect(await audit().expireBefore(cutoff)).toBe(2);
    const left = await events();
    expect(left.map((row) => row.event)).toEqual(["sign_in.failed", "sign_in.failed", "sign_in.failed", "audit.expired"]);
    expect(left.slice(0, 3).every((row) => row.occurred_at >= cutoff)).toBe(true);
    expect(left[3]!.details).toEqual({ before: "2031-01-03T00:00:00+00:00", count: 2 });
    // Nothing old enough: nothing deleted, nothing recorded.
    expect(await audit().expireBefore(cutoff)).toBe(0);
    expect(await events()).toHaveLength(4);
  });

  it("stays append-only otherwise, in the same session too", async () => {
    await audit().expireBefore(new Date(Date.parse("2031-01-04T00:00:00Z")));
    const before = (await events()).length;
    await expect(database.db.query("DELETE FROM audit_events")).rejects.toThrow(/append-only/);
    await expect(database.db.query("UPDATE audit_events SET actor = 'someone else'")).rejects.toThrow(/append-only/);
    await expect(database.db.query("TRUNCATE audit_events")).rejects.toThrow(/append-only/);
    // A cutoff declared by hand does not reach rows newer than it.
    await expect(
      database.db.transaction(async (tx) => {
        await tx.query("SELECT set_config('idp.audit_expire_before', '2031-01-02T00:00:00Z', true)");
        await tx.query("DELETE FROM audit_events WHERE occurred_at >= '2031-01-04T00:00:00Z'");
      }),
    ).rejects.toThrow(/append-only/);
    expect(await events()).toHaveLength(before);
  });
});

describe("a running IdP with AUDIT_RETENTION_DAYS", () => {
  it("expires old events every CLEANUP_INTERVAL by itself", async () => {
    let clock = Date.parse("2031-06-01T00:00:00Z");
    const idp = await startTestIdp({ now: () => new Date(clock), env: { AUDIT_RETENTION_DAYS: "30", CLEANUP_INTERVAL: "1" } });
    try {
      await idp.admin.addUser({ email: "old@example.com", password: "an old enough passphrase" });
      clock += 31 * DAY;
      const rows = async () => (await idp.database.db.query<{ event: string }>("SELECT event FROM audit_events ORDER BY id")).rows.map((row) => row.event);
      const deadline = Date.now() + 5000;
      while ((await rows()).includes("user.created") && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await rows()).toEqual(["audit.expired"]);
    } finally {
      await idp.close();
    }
  });
});
