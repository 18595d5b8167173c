// scratch: memory probe (deleted later)
import { createEmptyPostgresDatabase } from "../test/support/database.ts";
import { mkdtemp, rm, readFile } from "node:fs/promises";
import os from "node:os"; import path from "node:path";
import pg from "pg";
import { startIdp, memoryOf, killAllChildren, sampleRss } from "./servers.ts";
import { createHttpClient } from "./http.ts";
import { runLoad } from "./load.ts";
import * as scenario from "./scenarios.ts";
import { createDatabase, createPool } from "../idp/db/database.ts";
import { createAdmin } from "../idp/accounts/admin.ts";
import { createPasswordHasher } from "../idp/accounts/passwords.ts";
import { BENCH_CLIENTS, benchUser } from "./fixtures.ts";
const off = { REQUEST_LIMIT_PER_IP: "0", TOKEN_LIMIT_PER_IP: "0", TOKEN_LIMIT_PER_CLIENT: "0", SIGN_IN_LIMIT_PER_IP: "0", SIGN_IN_LIMIT_PER_ACCOUNT: "0" };
async function smaps(pid: number) {
  const text = await readFile(`/proc/${pid}/smaps`, "utf8");
  const out: Record<string, number> = {};
  let kind = "";
  for (const line of text.split("\n")) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) { const n = head[1]!; kind = n === "" ? "anon" : n.startsWith("/") ? (n.includes("node") && !n.includes(".node") ? "node binary" : n.endsWith(".node") ? "addons" : "files") : n; continue; }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) out[kind] = (out[kind] ?? 0) + Number(rss[1]) / 1024;
  }
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v > 1).map(([k, v]) => [k, Math.round(v)]));
}
const db = await createEmptyPostgresDatabase();
const keys = await mkdtemp(path.join(os.tmpdir(), "probe-"));
const extraEnv = JSON.parse(process.argv[2] ?? "{}");
const nodeArgs = JSON.parse(process.argv[3] ?? "[]");
try {
  const first = await startIdp({ NODE_ENV: "production", GENERATE_KEYS: "true", LOG_LEVEL: "warn", DATABASE_URL: db.url, KEYS_DIR: keys }); await first.stop();
  const d = createDatabase(createPool(db.url, 2));
  const seed = createAdmin(d, createPasswordHasher({ memoryCost: 19456, timeCost: 2, parallelism: 1 }));
  for (let i = 0; i < 16; i++) await seed.addUser({ ...benchUser(i), emailVerified: true });
  await seed.addClient({ ...BENCH_CLIENTS.web, public: true });
  const secret = (await seed.addClient({ ...BENCH_CLIENTS.service, public: false, service: true })).secret!;
  await d.close();
  const idp = await startIdp({ NODE_ENV: "production", LOG_LEVEL: "warn", DATABASE_URL: db.url, KEYS_DIR: keys, ...off, ...extraEnv }, nodeArgs);
  const target = { kind: "ours" as const, issuer: idp.issuer, serviceSecret: secret };
  console.log("ready", memoryOf(idp.pid), await smaps(idp.pid));
  for (const name of ["jwks", "client_credentials", "sign-in"]) {
    const http = createHttpClient(16);
    const s = sampleRss(idp.pid);
    const r = await runLoad({ connections: 16, warmupMs: 1000, durationMs: 5000, operation: (i) => name === "jwks" ? scenario.jwks(http, target) : name === "client_credentials" ? scenario.clientCredentials(http, target) : async () => void await scenario.signIn(http, target, benchUser(i)) });
    console.log(name, r.rate.toFixed(1), r.errors, r.firstError ?? "", "peak", (s.stop() / 1e6).toFixed(0), memoryOf(idp.pid), await smaps(idp.pid));
    http.close();
  }
  await idp.stop();
} finally { killAllChildren(); await db.drop(); await rm(keys, { recursive: true }); }
