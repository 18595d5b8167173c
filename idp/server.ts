// Starts the IdP: database, migrations, keys, app; listens; shuts down gracefully.
import type { FastifyInstance } from "fastify";
import type { Config } from "./config.ts";
import { buildApp } from "./app.ts";
import { openDatabase } from "./db/connect.ts";
import type { Database } from "./db/database.ts";
import { migrate } from "./db/migrate.ts";
import { loadKeyMaterial } from "./keys/key-material.ts";

export type RunningServer = { app: FastifyInstance; db: Database; url: string; close(): Promise<void> };

export async function startServer(config: Config, options: { logger?: Parameters<typeof buildApp>[0]["logger"] } = {}): Promise<RunningServer> {
  const db = await openDatabase(config);
  try {
    await migrate(db);
    const keys = await loadKeyMaterial(config);
    const app = await buildApp({ config, db, keys, logger: options.logger });
    for (const item of keys.generated) app.log.warn(`generated ${item} in ${config.keysDir}`);
    const url = await app.listen({ port: config.port, host: config.host });
    return {
      app,
      db,
      url,
      async close() {
        // Stops accepting and lets in-flight requests finish. A keep-alive connection that goes idle
        // after its last response would hold the server open until its timeout: close those as they
        // appear.
        const closing = app.close();
        const sweep = setInterval(() => app.server.closeIdleConnections(), 100);
        try {
          await closing;
        } finally {
          clearInterval(sweep);
        }
        await db.close();
      },
    };
  } catch (error) {
    await db.close();
    throw error;
  }
}
