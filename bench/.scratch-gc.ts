// scratch: gc trace (deleted later)
import { createEmptyPostgresDatabase } from "../test/support/database.ts";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os"; import path from "node:path";
import { startIdp, startBareProvider, memoryOf, killAllChildren } from "./servers.ts";
import { createHttpClient } from "./http.ts";
import { runLoad } from "./load.ts";
import * as scenario from "./scenarios.ts";
const off = { REQUEST_LIMIT_PER_IP: "0", TOKEN_LIMIT_PER_IP: "0", TOKEN_LIMIT_PER_CLIENT: "0", SIGN_IN_LIMIT_PER_IP: "0", SIGN_IN_LIMIT_PER_ACCOUNT: "0" };
const db = await createEmptyPostgresDatabase();
const keys = await mkdtemp(path.join(os.tmpdir(), "probe-"));
try {
  const first = await startIdp({ NODE_ENV: "production", GENERATE_KEYS: "true", LOG_LEVEL: "warn", DATABASE_URL: db.url, KEYS_DIR: keys }); await first.stop();
  const which = process.argv[2];
  const extra = JSON.parse(process.argv[3] ?? "[]"); const child = which === "bare" ? await startBareProvider(keys, "x", ["--trace-gc", ...extra]) : await startIdp({ NODE_ENV: "production", LOG_LEVEL: "warn", DATABASE_URL: db.url, KEYS_DIR: keys, ...off }, ["--trace-gc", ...extra]);
  const http = createHttpClient(16);
  const r = await runLoad({ connections: 16, warmupMs: 1000, durationMs: 8000, operation: () => scenario.jwks(http, { kind: "ours", issuer: child.issuer, serviceSecret: "" }) });
  console.log(which, r.rate.toFixed(0), memoryOf(child.pid));
  const lines = child.output().split("\n").filter((l) => /Mark-Compact|Mark-sweep/i.test(l));
  console.log(lines.slice(-6).join("\n"));
  const sc = child.output().split("\n").filter((l) => /Scavenge/.test(l));
  console.log(sc.slice(-3).join("\n"));
  await child.stop();
} finally { killAllChildren(); await db.drop(); await rm(keys, { recursive: true }); }
