// Chooses the database from configuration: PostgreSQL at DATABASE_URL, or the embedded one.
import type { Config } from "../config.ts";
import { createDatabase, createPool, type Database } from "./database.ts";
import { openEmbeddedDatabase } from "./embedded.ts";

export async function openDatabase(config: Pick<Config, "databaseUrl" | "databasePoolMax" | "dataDir">): Promise<Database> {
  if (config.databaseUrl) return createDatabase(createPool(config.databaseUrl, config.databasePoolMax));
  return openEmbeddedDatabase(config.dataDir);
}
