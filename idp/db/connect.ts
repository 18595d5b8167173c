// Chooses the database from configuration: PostgreSQL at DATABASE_URL, or the embedded one.
import type { Config } from "../config.ts";
import { createDatabase, createPool, type Database } from "./database.ts";

export async function openDatabase(config: Pick<Config, "databaseUrl" | "databasePoolMax" | "databasePreparedStatements" | "dataDir">): Promise<Database> {
  if (config.databaseUrl) {
    return createDatabase(createPool(config.databaseUrl, config.databasePoolMax), { prepareStatements: config.databasePreparedStatements });
  }
  // Loaded only when used: PGlite costs memory a PostgreSQL deployment should not pay.
  const { openEmbeddedDatabase } = await import("./embedded.ts");
  return openEmbeddedDatabase(config.dataDir);
}
