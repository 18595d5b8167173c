// PostgreSQL or Redis accepts connections and never answers (a proxy in front of it hangs): the
// IdP answers 503 with Retry-After instead of waiting with it, serves again once the dependency
// answers (dropping the connections that stayed hung), and a SIGTERM still ends the process.
// Every wait below is a liveness bound (a test that would otherwise hang fails instead), never a
// measure of speed.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type * as oidc from "openid-client";
import { createClient } from "@redis/client";
import { redisKeyPrefix } from "../../idp/abuse/rate-limit-store.ts";
import type { Config } from "../../idp/config.ts";
import { createTestOperator } from "../support/operator.ts";
import { createPostgresTestDatabase } from "../support/database.ts";
import { freePort, type TestIdp } from "../support/idp.ts";
import type { TcpProxy } from "../support/tcp-proxy.ts";
import { Browser, type Page } from "../support/browser.ts";
import { exchange, signIn, startAuthorization, REDIRECT_URI } from "../support/oidc-flow.ts";
import { hasRedis, needsRedis } from "../support/redis.ts";
import { LoginSession, redisUrl, signedIn } from "../abuse/helpers.ts";
import {
  alice,
  proxied,
  proxyTo,
  startIdpOverProxiedPostgres,
  startIdpOverProxiedRedis,
  type IdpOverProxiedPostgres,
  type IdpOverProxiedRedis,
} from "./proxied-idp.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
/** How long a test waits for any one answer or exit before it fails instead of hanging. */
const LIVENESS_MS = 15_000;
// Small bounds, so that the tests spend little time waiting on them.
const BOUNDS = { DATABASE_STATEMENT_TIMEOUT_MS: "300", REDIS_COMMAND_TIMEOUT_MS: "300" };

/** Settles like the promise, or fails once the liveness bound has passed. */
function within<T>(what: string, promise: Promise<T>, ms = LIVENESS_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Retries until check() holds, each try and the whole under the liveness bound. */
async function eventually(what: string, check: () => Promise<boolean>) {
  const deadline = Date.now() + LIVENESS_MS;
  while (Date.now() < deadline) {
    if (await within(what, check()).catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what}: not within ${LIVENESS_MS} ms`);
}

describe("a hung PostgreSQL", () => {
  let subject: IdpOverProxiedPostgres;
  let proxy: TcpProxy;
  let config: Config;
  let web: oidc.Configuration;

  beforeAll(async () => {
    subject = await startIdpOverProxiedPostgres(BOUNDS);
    ({ proxy, config, web } = subject);
  });
  afterAll(async () => subject?.close());

  const origin = () => new URL(config.issuer).origin;
  const refresh = (refreshToken: string) =>
    fetch(`${config.issuer}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: "web" }),
    });
  const signInAndRefresh = async () => {
    const start = await startAuthorization(web);
    const callback = await signIn(new Browser(), start, alice);
    const tokens = await exchange(web, start, callback.url);
    return (await refresh(tokens.refresh_token!)).status === 200;
  };

  it("answers 503 with Retry-After instead of waiting, and serves again once it answers", async () => {
    const start = await startAuthorization(web);
    const tokens = await exchange(web, start, (await signIn(new Browser(), start, alice)).url);
    const browser = new Browser();
    const loginPage = await browser.follow((await startAuthorization(web)).url.toString());
    expect(loginPage.html).toContain('name="password"');

    proxy.hang();
    // All at once: readiness, the sign-in page, the sign-in post and a refresh, none waiting for another.
    const [ready, page, post, token] = await Promise.all([
      within("/readyz", fetch(`${origin()}/readyz`)),
      within("the sign-in page", browser.request(loginPage.url)),
      within("the sign-in post", browser.submit(loginPage, "/login", alice)),
      within("a refresh", refresh(tokens.refresh_token!)),
    ]);
    expect(ready.status).toBe(503);
    expect(ready.headers.get("retry-after")).toBe("5");
    for (const shown of [page, post] as Page[]) {
      expect(shown.status).toBe(503);
      expect(shown.html).toContain("Temporarily unavailable");
    }
    expect(token.status).toBe(503);
    expect(token.headers.get("retry-after")).toBe("5");
    expect((await token.json()).error).toBe("temporarily_unavailable");
    expect((await fetch(`${origin()}/healthz`)).status).toBe(200);

    // The connections that hung stay hung: the pool has to give them up and open new ones.
    proxy.resume();
    await eventually("readiness after the hang", async () => (await fetch(`${origin()}/readyz`)).status === 200);
    await eventually("a sign-in and a refresh after the hang", signInAndRefresh);
    expect((await refresh(tokens.refresh_token!)).status).toBe(200);
  }, 60_000);
});

describe.skipIf(!hasRedis)("a hung Redis", () => {
  let subject: IdpOverProxiedRedis;
  let proxy: TcpProxy;
  let idp: TestIdp;

  beforeAll(async () => {
    subject = await startIdpOverProxiedRedis(BOUNDS);
    ({ proxy, idp } = subject);
  });
  afterAll(async () => subject?.close());

  it("answers sign-ins 503 with Retry-After instead of waiting, keeps issuing tokens, and recovers", async () => {
    expect(signedIn(await (await LoginSession.open(idp)).post(alice.email, alice.password))).toBe(true);
    const login = await LoginSession.open(idp);

    proxy.hang();
    const refused = await within("the sign-in post", login.post(alice.email, alice.password));
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("5");
    expect(refused.html).toContain("Temporarily unavailable");
    // The per-request limits count in the process and sync in the background: tokens go on.
    expect((await within("a service token", subject.serviceToken())).status).toBe(200);

    proxy.resume();
    await eventually("a sign-in after the hang", async () => signedIn(await (await LoginSession.open(idp)).post(alice.email, alice.password)));
    // The background sync did not stall on the hung connection: the token request counted during
    // the hang (the first for this client) reaches Redis.
    const redis = createClient({ url: redisUrl });
    await redis.connect();
    try {
      const counter = `${redisKeyPrefix(idp.issuer)}token:client:worker`;
      await eventually("the counts of the hang in Redis", async () => Number(await redis.hGet(counter, "c")) >= 1);
    } finally {
      redis.destroy();
    }
  }, 60_000);
});

describe("SIGTERM while a dependency hangs", () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  const exited = (child: ChildProcess) =>
    new Promise<number | null>((resolve) => {
      if (child.exitCode !== null) resolve(child.exitCode);
      else child.once("exit", (code) => resolve(code));
    });

  it.for(["PostgreSQL", "Redis"] as const)("ends the process while %s hangs", { timeout: 60_000 }, async (hung, context) => {
    if (hung === "Redis") needsRedis(context);
    const database = await createPostgresTestDatabase();
    cleanups.push(() => database.destroy());
    const admin = createTestOperator(database.db);
    await admin.addUser(alice);
    await admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
    const proxy = await proxyTo(hung === "PostgreSQL" ? database.url! : redisUrl, hung === "PostgreSQL" ? 5432 : 6379);
    cleanups.push(() => proxy.close());
    const keysDir = await mkdtemp(path.join(os.tmpdir(), "idp-keys-"));
    cleanups.push(() => rm(keysDir, { recursive: true, force: true }));
    const port = await freePort();
    const env = {
      PATH: process.env.PATH ?? "",
      PORT: String(port),
      KEYS_DIR: keysDir,
      LOG_LEVEL: "silent",
      ...BOUNDS,
      DATABASE_URL: hung === "PostgreSQL" ? proxied(database.url!, proxy) : database.url!,
      ...(hung === "Redis" ? { REDIS_URL: proxied(redisUrl, proxy) } : {}),
    };
    const child = spawn(process.execPath, ["idp/cli/bin.ts", "serve"], { cwd: root, env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const exit = exited(child);
    cleanups.push(async () => child.exitCode === null && child.kill("SIGKILL"));
    const origin = `http://127.0.0.1:${port}`;
    await eventually(`the server to start\n${stderr}`, async () => (await fetch(`${origin}/readyz`)).status === 200);

    // Several connections to the database, idle when it hangs: their goodbye at shutdown goes unanswered.
    await Promise.all(Array.from({ length: 8 }, () => fetch(`${origin}/readyz`)));
    // The sign-in page's requests are counted in the process and not sent yet: the shutdown
    // flushes them to the store, which hangs when it is PostgreSQL's table or Redis.
    const login = await LoginSession.open({ issuer: `http://localhost:${port}/oidc`, baseUrl: `http://localhost:${port}` } as TestIdp);
    proxy.hang();
    // A request in flight when the signal arrives: the sign-in post waits on the hung dependency.
    const inFlight = login.post(alice.email, alice.password);
    await new Promise((resolve) => setTimeout(resolve, 100));
    child.kill("SIGTERM");

    expect(await within(`exit after SIGTERM\n${stderr}`, exit)).toBe(0);
    expect((await within("the request in flight", inFlight)).status).toBe(503);
  });
});
