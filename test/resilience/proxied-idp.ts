// The set-ups the resilience suites share: an IdP whose PostgreSQL or Redis sits behind a TcpProxy
// the test cuts or hangs, with alice and the first-party web client (and, for Redis, a service
// client whose tokens are limited in the process).
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import type * as oidc from "openid-client";
import { buildApp } from "../../idp/app.ts";
import { loadConfig, type Config } from "../../idp/config.ts";
import { openDatabase } from "../../idp/db/connect.ts";
import type { Database } from "../../idp/db/database.ts";
import { migrate } from "../../idp/db/migrate.ts";
import { loadKeyMaterial } from "../../idp/keys/key-material.ts";
import { createTestOperator } from "../support/operator.ts";
import { createEmptyPostgresDatabase } from "../support/database.ts";
import { freePort, startTestIdp, type TestIdp } from "../support/idp.ts";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.ts";
import { discover, REDIRECT_URI } from "../support/oidc-flow.ts";
import { redisUrl } from "../abuse/helpers.ts";

export const alice = { email: "alice@example.com", password: "correct horse battery" };

/** `url` with its host and port replaced by the proxy's. */
export function proxied(url: string, proxy: TcpProxy): string {
  const through = new URL(url);
  through.hostname = "127.0.0.1";
  through.port = String(proxy.port);
  return through.toString();
}

/** A proxy in front of the server `url` names (`defaultPort` when it names none). */
export async function proxyTo(url: string, defaultPort: number): Promise<TcpProxy> {
  const target = new URL(url);
  return startTcpProxy({ host: target.hostname, port: Number(target.port || defaultPort) });
}

export type IdpOverProxiedPostgres = {
  /** Between the IdP and its own, freshly migrated database. */
  proxy: TcpProxy;
  /** The IdP's database, opened through the proxy as `idp serve` opens it. */
  db: Database;
  app: FastifyInstance;
  config: Config;
  baseUrl: string;
  /** openid-client's view of the first-party public client "web". */
  web: oidc.Configuration;
  close(): Promise<void>;
};

/** A listening IdP over a new, empty PostgreSQL database behind a proxy; `env` adds settings. */
export async function startIdpOverProxiedPostgres(env: Record<string, string> = {}): Promise<IdpOverProxiedPostgres> {
  const empty = await createEmptyPostgresDatabase();
  const proxy = await proxyTo(empty.url, 5432);
  const keysDir = await mkdtemp(path.join(os.tmpdir(), "idp-keys-"));
  const port = await freePort();
  const config = loadConfig({
    PORT: String(port),
    KEYS_DIR: keysDir,
    DATABASE_URL: proxied(empty.url, proxy),
    LOG_LEVEL: "silent",
    CLEANUP_INTERVAL: "0",
    ...env,
  });
  const db = await openDatabase(config);
  await migrate(db);
  const app = await buildApp({ config, db, keys: await loadKeyMaterial(config), logger: false });
  await app.listen({ port, host: "127.0.0.1" });
  const admin = createTestOperator(db, { config });
  await admin.addUser(alice);
  await admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
  return {
    proxy,
    db,
    app,
    config,
    baseUrl: new URL(config.issuer).origin,
    web: await discover(config.issuer, "web"),
    async close() {
      await app.close();
      await admin.close();
      await db.close();
      await proxy.close();
      await empty.drop();
      await rm(keysDir, { recursive: true, force: true });
    },
  };
}

export type IdpOverProxiedRedis = {
  idp: TestIdp;
  /** Between the IdP and Redis (REDIS_URL: the rate-limit and lockout counters). */
  proxy: TcpProxy;
  /** A client_credentials request by the service client "worker", as sent (any status). */
  serviceToken(): Promise<Response>;
  close(): Promise<void>;
};

/** A listening IdP whose Redis is behind a proxy; `env` adds settings. */
export async function startIdpOverProxiedRedis(env: Record<string, string> = {}): Promise<IdpOverProxiedRedis> {
  const proxy = await proxyTo(redisUrl, 6379);
  const idp = await startTestIdp({ env: { REDIS_URL: proxied(redisUrl, proxy), ...env } });
  await idp.admin.addUser(alice);
  await idp.admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
  const { secret } = await idp.admin.addClient({ id: "worker", service: true, public: false, firstParty: false, redirectUris: [] });
  return {
    idp,
    proxy,
    serviceToken: () =>
      fetch(`${idp.issuer}/token`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          authorization: `Basic ${Buffer.from(`worker:${secret!}`).toString("base64")}`,
        },
        body: new URLSearchParams({ grant_type: "client_credentials" }),
      }),
    async close() {
      await idp.close();
      await proxy.close();
    },
  };
}
