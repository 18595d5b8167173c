// Databases for tests: a fresh database on the real PostgreSQL server (TEST_DATABASE_URL), or a
// fresh embedded one in a temporary directory. Both are migrated and dropped afterwards.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { createDatabase, createPool, type Database } from "../../idp/db/database.ts";
import { openEmbeddedDatabase } from "../../idp/db/embedded.ts";
import { migrate } from "../../idp/db/migrate.ts";

export const serverUrl = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export type TestDatabase = {
  kind: "postgres" | "embedded";
  db: Database;
  /** A connection string for DATABASE_URL (postgres) or the data directory (embedded). */
  url?: string;
  dataDir?: string;
  destroy(): Promise<void>;
};

/** Creates an empty database on the PostgreSQL server and returns its connection string. */
export async function createEmptyPostgresDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `idp_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

export async function createPostgresTestDatabase(): Promise<TestDatabase> {
  const empty = await createEmptyPostgresDatabase();
  const db = createDatabase(createPool(empty.url, 10));
  await migrate(db);
  return {
    kind: "postgres",
    db,
    url: empty.url,
    async destroy() {
      await db.close();
      await empty.drop();
    },
  };
}

export async function createEmbeddedTestDatabase(): Promise<TestDatabase> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "idp-embedded-"));
  const db = await openEmbeddedDatabase(dataDir);
  await migrate(db);
  return {
    kind: "embedded",
    db,
    dataDir,
    async destroy() {
      await db.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export const testDatabases = [
  { kind: "postgres", create: createPostgresTestDatabase },
  { kind: "embedded", create: createEmbeddedTestDatabase },
] as const;
