// Two IdP processes on one PostgreSQL and one keys directory behave as one: a sign-in started on
// one finishes on the other, refresh works across them, and a key rotated on one is followed by
// the other. (Behind a load balancer both serve the same issuer.)
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { FastifyInstance } from "fastify";
import { buildApp } from "../../idp/app.ts";
import { loadConfig, type Config } from "../../idp/config.ts";
import { loadKeyMaterial } from "../../idp/keys/key-material.ts";
import { rotateSigningKey } from "../../idp/keys/rotation.ts";
import { createTestOperator } from "../support/operator.ts";
import { createPostgresTestDatabase, type TestDatabase } from "../support/database.ts";
import { freePort } from "../support/idp.ts";
import { Browser, findForm } from "../support/browser.ts";
import { discover, exchange, startAuthorization, REDIRECT_URI } from "../support/oidc-flow.ts";

let database: TestDatabase;
let keysDir: string;
let config: Config;
const instances: { app: FastifyInstance; origin: string }[] = [];

beforeAll(async () => {
  database = await createPostgresTestDatabase();
  keysDir = await mkdtemp(path.join(os.tmpdir(), "idp-keys-"));
  const [first, second] = [await freePort(), await freePort()];
  // One issuer for both, as behind a load balancer; each listens on its own port.
  config = loadConfig({ PORT: String(first), KEYS_DIR: keysDir, DATABASE_URL: database.url!, LOG_LEVEL: "silent", CLEANUP_INTERVAL: "0", KEYS_RELOAD_INTERVAL: "0" });
  for (const port of [first, second]) {
    const app = await buildApp({ config, db: database.db, keys: await loadKeyMaterial(config), logger: false });
    await app.listen({ port, host: "127.0.0.1" });
    instances.push({ app, origin: `http://localhost:${port}` });
  }
  const admin = createTestOperator(database.db, { config });
  await admin.addUser({ email: "alice@example.com", password: "correct horse battery" });
  await admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
});
afterAll(async () => {
  for (const { app } of instances) await app.close();
  await database?.destroy();
  if (keysDir) await rm(keysDir, { recursive: true, force: true });
});

const on = (instance: number, url: string) => url.replace(new URL(url).origin, instances[instance]!.origin);

async function refreshOn(instance: number, refreshToken: string) {
  const response = await fetch(`${instances[instance]!.origin}/oidc/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: "web" }),
  });
  return { status: response.status, body: await response.json() };
}

it("finishes on the second instance a sign-in started on the first, and refreshes across them", async () => {
  const web = await discover(config.issuer, "web");
  const browser = new Browser();
  const start = await startAuthorization(web);
  const login = await browser.follow(start.url.toString()); // instance 0 shows the login page
  const form = findForm(login.html, "/login");
  const posted = await browser.follow(
    on(1, new URL(form.action, login.url).toString()), // instance 1 takes the password
    (url) => url.startsWith(REDIRECT_URI),
    { form: { ...form.hidden, email: "alice@example.com", password: "correct horse battery" } },
  );
  expect(posted.url.startsWith(REDIRECT_URI), posted.html.slice(0, 200)).toBe(true);
  const tokens = await exchange(web, start, posted.url);

  const onSecond = await refreshOn(1, tokens.refresh_token!);
  expect(onSecond.status).toBe(200);
  const onFirst = await refreshOn(0, onSecond.body.refresh_token);
  expect(onFirst.status).toBe(200);
  // The rotated token is spent everywhere, not just where it was used.
  expect((await refreshOn(0, tokens.refresh_token!)).status).toBe(400);
});

it("publishes a key rotated on one instance on the other too", async () => {
  const jwksOf = async (instance: number) =>
    ((await (await fetch(`${instances[instance]!.origin}/oidc/jwks`)).json()) as { keys: { kid: string }[] }).keys.map((key) => key.kid);
  const before = await jwksOf(1);
  const { key } = await rotateSigningKey(config, { now: new Date() });
  for (const { app } of instances) await app.keyRing.refresh(); // what KEYS_RELOAD_INTERVAL does
  expect(await jwksOf(0)).toEqual([...before, key.kid]);
  expect(await jwksOf(1)).toEqual([...before, key.kid]);
});
