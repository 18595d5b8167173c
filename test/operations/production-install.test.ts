// The Dockerfile's build, without Docker: copy exactly what it COPYs, install production
// dependencies only, and start the server in production mode on PostgreSQL. A runtime import of a
// dev dependency, or a file the image lacks, fails here.
import { execFile, spawn } from "node:child_process";
import { cp, mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";
import { createEmptyPostgresDatabase } from "../support/database.ts";
import { freePort } from "../support/idp.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

it("installs with production dependencies only and serves in production mode", { timeout: 240_000 }, async () => {
  const image = await mkdtemp(path.join(os.tmpdir(), "idp-image-"));
  cleanups.push(() => rm(image, { recursive: true, force: true }));
  const dockerfile = await readFile(path.join(root, "Dockerfile"), "utf8");
  for (const [, args] of dockerfile.matchAll(/^COPY (.+)$/gm)) {
    const words = args!.trim().split(/\s+/);
    const destination = words.at(-1)!;
    for (const source of words.slice(0, -1)) {
      const target = destination.endsWith("/") ? path.join(image, destination, path.basename(source)) : path.join(image, destination);
      await cp(path.join(root, source), target, { recursive: true });
    }
  }
  await promisify(execFile)("npm", ["ci", "--omit=dev", "--no-audit", "--no-fund"], { cwd: image, timeout: 180_000 });

  const empty = await createEmptyPostgresDatabase();
  cleanups.push(() => empty.drop());
  const port = await freePort();
  const child = spawn(process.execPath, ["idp/cli/bin.ts", "serve"], {
    cwd: image,
    env: { PATH: process.env.PATH ?? "", NODE_ENV: "production", DATABASE_URL: empty.url, GENERATE_KEYS: "true", PORT: String(port), LOG_LEVEL: "silent" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  cleanups.push(async () => child.exitCode === null && child.kill("SIGKILL"));

  for (let waited = 0; ; waited += 100) {
    if ((await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200) break;
    if (child.exitCode !== null || waited > 30_000) throw new Error(`the server did not become ready:\n${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const discovery = await (await fetch(`http://127.0.0.1:${port}/oidc/.well-known/openid-configuration`)).json();
  expect(discovery.issuer).toBe(`http://localhost:${port}/oidc`);
  child.kill("SIGTERM");
  expect(await exited).toBe(0);
});
