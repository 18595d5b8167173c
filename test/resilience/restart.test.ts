// Restarting the IdP loses nothing: the browser's session, the grant and the refresh tokens all
// live in PostgreSQL, so a new process on the same database and keys carries on.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import * as oidc from "openid-client";
import { buildApp } from "../../idp/app.ts";
import { loadConfig } from "../../idp/config.ts";
import { loadKeyMaterial } from "../../idp/keys/key-material.ts";
import { createTestOperator } from "../support/operator.ts";
import { createPostgresTestDatabase, type TestDatabase } from "../support/database.ts";
import { freePort } from "../support/idp.ts";
import { Browser } from "../support/browser.ts";
import { discover, exchange, signIn, startAuthorization, REDIRECT_URI } from "../support/oidc-flow.ts";

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

it("keeps sessions, grants and refresh tokens across a restart", async () => {
  const database: TestDatabase = await createPostgresTestDatabase();
  cleanups.push(() => database.destroy());
  const keysDir = await mkdtemp(path.join(os.tmpdir(), "idp-keys-"));
  cleanups.push(() => rm(keysDir, { recursive: true, force: true }));
  const port = await freePort();
  const config = loadConfig({ PORT: String(port), KEYS_DIR: keysDir, DATABASE_URL: database.url!, LOG_LEVEL: "silent", CLEANUP_INTERVAL: "0" });
  const start = async () => {
    const app = await buildApp({ config, db: database.db, keys: await loadKeyMaterial(config), logger: false });
    await app.listen({ port, host: "127.0.0.1" });
    return app;
  };

  const first = await start();
  const admin = createTestOperator(database.db, { config });
  await admin.addUser({ email: "alice@example.com", password: "correct horse battery" });
  await admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
  const web = await discover(config.issuer, "web");
  const browser = new Browser();
  const authorization = await startAuthorization(web);
  const tokens = await exchange(web, authorization, (await signIn(browser, authorization, { email: "alice@example.com", password: "correct horse battery" })).url);
  await first.close();

  const second = await start();
  cleanups.push(() => second.close());
  // The refresh token issued by the first process works with the second.
  const refreshed = await oidc.refreshTokenGrant(web, tokens.refresh_token!);
  expect(refreshed.claims()!.sub).toBe(tokens.claims()!.sub);
  // The browser's session survived: a new authorization goes straight back to the app.
  const again = await startAuthorization(web);
  const page = await browser.follow(again.url.toString(), (url) => url.startsWith(REDIRECT_URI));
  expect(page.url.startsWith(REDIRECT_URI)).toBe(true);
  expect((await exchange(web, again, page.url)).claims()!.sub).toBe(tokens.claims()!.sub);
});
