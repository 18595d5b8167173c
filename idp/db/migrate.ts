// Applies the numbered SQL files in migrations/ once each, under an advisory lock so that
// several instances starting together never apply one twice. They run on a connection of their own
// without DATABASE_STATEMENT_TIMEOUT_MS: a migration may rightly take long, and so may the wait for
// another instance's.
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { withUnboundedConnection, type Database } from "./database.ts";

export const defaultMigrationsDir = fileURLToPath(new URL("../../migrations/", import.meta.url));

// Any constant works; it only has to be the same for every instance of the IdP.
const MIGRATION_LOCK_KEY = 7_211_004_511;

export type Migration = { version: string; sql: string };

export async function readMigrations(dir = defaultMigrationsDir): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((file) => /^\d{3,}_[\w-]+\.sql$/.test(file)).sort();
  return Promise.all(
    files.map(async (file) => ({ version: file.replace(/\.sql$/, ""), sql: await readFile(path.join(dir, file), "utf8") })),
  );
}

/** Applies pending migrations; returns the versions applied by this call. */
export async function migrate(db: Database, migrations?: Migration[]): Promise<string[]> {
  const pending = migrations ?? (await readMigrations());
  return withUnboundedConnection(db.pool, async (client) => {
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
    try {
      await client.query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
      );
      const done = new Set(
        (await client.query<{ version: string }>("SELECT version FROM schema_migrations")).rows.map((r) => r.version),
      );
      const applied: string[] = [];
      for (const migration of pending) {
        if (done.has(migration.version)) continue;
        await client.query("BEGIN");
        try {
          await client.query(migration.sql);
          await client.query("INSERT INTO schema_migrations (version) VALUES ($1)", [migration.version]);
          await client.query("COMMIT");
        } catch (error) {
          await client.query("ROLLBACK");
          throw new Error(`migration ${migration.version} failed: ${(error as Error).message}`, { cause: error });
        }
        applied.push(migration.version);
      }
      return applied;
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]);
    }
  });
}
