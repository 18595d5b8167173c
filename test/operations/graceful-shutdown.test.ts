// SIGTERM drains: a request in flight when the signal arrives completes, then the process exits 0.
// The slow request is a sign-in held back by the progressive delay after repeated failures.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";
import { createDatabase, createPool } from "../../idp/db/database.ts";
import { migrate } from "../../idp/db/migrate.ts";
import { createTestOperator } from "../support/operator.ts";
import { createPasswordHasher } from "../../idp/accounts/passwords.ts";
import { createEmptyPostgresDatabase } from "../support/database.ts";
import { freePort } from "../support/idp.ts";
import { Browser } from "../support/browser.ts";
import { discover, startAuthorization, REDIRECT_URI } from "../support/oidc-flow.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

it("finishes in-flight requests on SIGTERM, then exits 0", async () => {
  const empty = await createEmptyPostgresDatabase();
  cleanups.push(() => empty.drop());
  const db = createDatabase(createPool(empty.url, 2));
  await migrate(db);
  await createTestOperator(db, { hasher: createPasswordHasher({ memoryCost: 19456, timeCost: 2, parallelism: 1 }) }).addClient({
    id: "web",
    public: true,
    firstParty: true,
    redirectUris: [REDIRECT_URI],
  });
  await db.close();
  const keysDir = await mkdtemp(path.join(os.tmpdir(), "idp-keys-"));
  cleanups.push(() => rm(keysDir, { recursive: true, force: true }));

  const port = await freePort();
  const child = spawn(process.execPath, ["idp/cli/bin.ts", "serve"], {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", DATABASE_URL: empty.url, KEYS_DIR: keysDir, PORT: String(port), LOG_LEVEL: "silent" },
    stdio: "ignore",
  });
  const exit = exited(child);
  cleanups.push(async () => child.exitCode === null && child.kill("SIGKILL"));
  const issuer = `http://localhost:${port}/oidc`;
  for (let waited = 0; ; waited += 100) {
    if ((await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200) break;
    if (waited > 20_000) throw new Error("the server did not become ready");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  const browser = new Browser();
  let page = await browser.follow((await startAuthorization(await discover(issuer, "web"))).url.toString());
  const wrong = { email: "nobody@example.com", password: "wrong password!" };
  for (let i = 0; i < 3; i++) page = await browser.submit(page, "/login", wrong);

  // The fourth failure waits about a second before answering: signal the server meanwhile.
  const started = Date.now();
  const inFlight = browser.submit(page, "/login", wrong);
  await new Promise((resolve) => setTimeout(resolve, 300));
  child.kill("SIGTERM");
  const answered = await inFlight;
  expect(Date.now() - started).toBeGreaterThan(300); // it really was in flight at the signal
  expect(answered.status).toBe(401);
  expect(answered.html).toContain("Incorrect email or password.");
  expect(await exit).toBe(0);
  await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
});
