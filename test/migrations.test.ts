// Migrations: applied exactly once under concurrent starts, idempotent, all-or-nothing per
// migration, and free of the statement timeout that bounds every other statement.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase, createPool, type Database } from "../idp/db/database.ts";
import { openEmbeddedDatabase } from "../idp/db/embedded.ts";
import { migrate, readMigrations, type Migration } from "../idp/db/migrate.ts";
import { createEmptyPostgresDatabase } from "./support/database.ts";

const BAD_MIGRATION: Migration = { version: "999_bad", sql: "CREATE TABLE ok_table(x int); SELECT * FROM no_such_table" };

/** Fails instead of hanging when a call blocks (e.g. on an advisory lock that was never released). */
function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function appliedVersions(db: Database): Promise<string[]> {
  return (await db.query<{ version: string }>("SELECT version FROM schema_migrations ORDER BY version")).rows.map((r) => r.version);
}

async function tableExists(db: Database, name: string): Promise<boolean> {
  return (await db.query<{ t: string | null }>("SELECT to_regclass($1)::text AS t", [name])).rows[0]!.t !== null;
}

describe("migrations on PostgreSQL", () => {
  let empty: Awaited<ReturnType<typeof createEmptyPostgresDatabase>>;
  let pools: Database[] = [];
  let versions: string[];

  beforeAll(async () => {
    versions = (await readMigrations()).map((m) => m.version);
    empty = await createEmptyPostgresDatabase();
    // Five instances of the IdP starting together, each with its own pool.
    pools = Array.from({ length: 5 }, () => createDatabase(createPool(empty.url, 2)));
  });

  afterAll(async () => {
    await Promise.all(pools.map((db) => db.close()));
    await empty?.drop();
  });

  it("finds the migration files in order, starting with 001_initial", () => {
    expect(versions[0]).toBe("001_initial");
    expect([...versions].sort()).toEqual(versions);
  });

  it("concurrent migrate calls apply each migration exactly once", async () => {
    const results = await Promise.all(pools.map((db) => migrate(db)));

    const appliers = results.filter((applied) => applied.length > 0);
    expect(appliers).toEqual([versions]); // exactly one caller applied everything
    expect(results.filter((applied) => applied.length === 0)).toHaveLength(4);
    expect(results.filter((applied) => applied.includes("001_initial"))).toHaveLength(1);

    expect(await appliedVersions(pools[0]!)).toEqual(versions);
    for (const table of ["users", "clients", "oidc_payloads"]) expect(await tableExists(pools[0]!, table)).toBe(true);
  });

  it("a second run applies nothing", async () => {
    expect(await Promise.all(pools.map((db) => migrate(db)))).toEqual([[], [], [], [], []]);
    expect(await appliedVersions(pools[0]!)).toEqual(versions);
  });

  it("a failing migration rolls back completely and names its version", async () => {
    await expect(migrate(pools[0]!, [BAD_MIGRATION])).rejects.toThrow(/999_bad/);

    expect(await tableExists(pools[1]!, "ok_table")).toBe(false);
    expect(await appliedVersions(pools[1]!)).toEqual(versions);
    // The advisory lock was released: another instance can still migrate (it would block forever otherwise).
    expect(await within(10_000, migrate(pools[1]!), "migrate after a failed migration")).toEqual([]);
    // And the failed one is retried, and fails the same way, on the next start.
    await expect(migrate(pools[2]!, [BAD_MIGRATION])).rejects.toThrow(/migration 999_bad failed: .*no_such_table/);
  });
});

describe("migrations and DATABASE_STATEMENT_TIMEOUT_MS", () => {
  let empty: Awaited<ReturnType<typeof createEmptyPostgresDatabase>>;
  let bounded: Database[] = [];
  const SLOW: Migration = { version: "998_slow", sql: "SELECT pg_sleep(0.6); CREATE TABLE slow_table(x int)" };

  beforeAll(async () => {
    empty = await createEmptyPostgresDatabase();
    bounded = Array.from({ length: 2 }, () => createDatabase(createPool(empty.url, 2, { statementTimeoutMs: 200 })));
  });
  afterAll(async () => {
    await Promise.all(bounded.map((db) => db.close()));
    await empty?.drop();
  });

  it("run migrations longer than the timeout, and wait past it for another instance's", async () => {
    // The bound holds for the pool's own statements...
    await expect(bounded[0]!.query("SELECT pg_sleep(0.6)")).rejects.toMatchObject({ code: "57014" });
    // ...not for a migration, nor for the second instance waiting on the first one's lock meanwhile.
    const results = await Promise.all(bounded.map((db) => migrate(db, [SLOW])));
    expect(results.sort()).toEqual([[], ["998_slow"]]);
    expect(await tableExists(bounded[1]!, "slow_table")).toBe(true);
  });
});

describe("migrations on the embedded database", () => {
  let dataDir: string;
  let db: Database | undefined;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), "idp-migrations-"));
    db = await openEmbeddedDatabase(dataDir);
  });

  afterAll(async () => {
    await db?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("migrate twice applies everything, then nothing", async () => {
    const versions = (await readMigrations()).map((m) => m.version);
    const first = await migrate(db!);
    expect(first).toEqual(versions);
    expect(first).toContain("001_initial");
    expect(await migrate(db!)).toEqual([]);
    expect(await appliedVersions(db!)).toEqual(versions);
  });

  it("a failing migration leaves nothing behind here too", async () => {
    await expect(migrate(db!, [BAD_MIGRATION])).rejects.toThrow(/999_bad/);
    expect(await tableExists(db!, "ok_table")).toBe(false);
    expect(await appliedVersions(db!)).not.toContain("999_bad");
    expect(await within(10_000, migrate(db!), "migrate after a failed migration")).toEqual([]);
  });
});
