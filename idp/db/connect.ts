// Chooses the database from configuration: PostgreSQL at DATABASE_URL, or the embedded one.
import type { Config } from "../config.ts";
import { createDatabase, createPool, type Database } from "./database.ts";

export async function openDatabase(
  config: Pick<Config, "databaseUrl" | "databasePoolMax" | "databasePreparedStatements" | "databaseStatementTimeoutMs" | "dataDir">,
): Promise<Database> {
  if (config.databaseUrl) {
    const pool = createPool(config.databaseUrl, config.databasePoolMax, { statementTimeoutMs: config.databaseStatementTimeoutMs });
    return createDatabase(pool, { prepareStatements: config.databasePreparedStatements });
  }
  // Loaded only when used: PGlite costs memory a PostgreSQL deployment should not pay.
  const { openEmbeddedDatabase } = await import("./embedded.ts");
  return openEmbeddedDatabase(config.dataDir);
}
