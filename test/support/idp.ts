// Starts a real IdP for a test: a fresh database, fresh keys, the real app, listening on a free
// port of 127.0.0.1 (or not listening, for app.inject()).
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import { buildApp } from "../../idp/app.ts";
import { loadConfig, type Config } from "../../idp/config.ts";
import { createTestOperator, type TestOperator } from "./operator.ts";
import { loadKeyMaterial } from "../../idp/keys/key-material.ts";
import { createEmbeddedTestDatabase, createPostgresTestDatabase, type TestDatabase } from "./database.ts";

export type TestIdp = {
  app: FastifyInstance;
  config: Config;
  database: TestDatabase;
  /** The operator actions (as `idp users`/`idp clients` run them), with the user and client stores. */
  admin: TestOperator;
  issuer: string;
  baseUrl: string;
  close(): Promise<void>;
};

export type TestIdpOptions = {
  database?: "postgres" | "embedded";
  env?: Record<string, string>;
  listen?: boolean;
  now?: () => Date;
  logger?: Parameters<typeof buildApp>[0]["logger"];
  /** The host in the issuer; anything but localhost also makes the IdP listen on every interface. */
  publicHost?: string;
  /** Runs on the empty keys directory before the IdP loads it. */
  prepareKeys?: (keysDir: string) => Promise<void>;
};

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function startTestIdp(options: TestIdpOptions = {}): Promise<TestIdp> {
  const database = options.database === "embedded" ? await createEmbeddedTestDatabase() : await createPostgresTestDatabase();
  const keysDir = await mkdtemp(path.join(os.tmpdir(), "idp-keys-"));
  await options.prepareKeys?.(keysDir);
  const port = await freePort();
  const config = loadConfig({
    PORT: String(port),
    KEYS_DIR: keysDir,
    LOG_LEVEL: "silent",
    CLEANUP_INTERVAL: "0",
    ...(options.publicHost ? { ISSUER: `http://${options.publicHost}:${port}/oidc` } : {}),
    ...(database.url ? { DATABASE_URL: database.url } : { DATA_DIR: database.dataDir! }),
    ...options.env,
  });
  const keys = await loadKeyMaterial(config);
  const app = await buildApp({ config, db: database.db, keys, now: options.now, logger: options.logger ?? false });
  const host = options.publicHost && options.publicHost !== "localhost" ? "0.0.0.0" : "127.0.0.1";
  if (options.listen !== false) await app.listen({ port, host });
  else await app.ready();
  const admin = createTestOperator(database.db, { config });
  return {
    app,
    config,
    database,
    admin,
    issuer: config.issuer,
    baseUrl: new URL(config.issuer).origin,
    async close() {
      await app.close();
      await admin.close();
      await database.destroy();
      await rm(keysDir, { recursive: true, force: true });
    },
  };
}
