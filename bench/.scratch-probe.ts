// scratch: not part of the deliverable (deleted later)
import { createEmptyPostgresDatabase } from "../test/support/database.ts";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os"; import path from "node:path";
import { startIdp, startBareProvider, memoryOf, killAllChildren } from "./servers.ts";
import { createHttpClient } from "./http.ts";
import { runLoad } from "./load.ts";
import * as scenario from "./scenarios.ts";
const variants: Record<string, Record<string,string>> = {
  high: { REQUEST_LIMIT_PER_IP: "1000000000", TOKEN_LIMIT_PER_IP: "1000000000", TOKEN_LIMIT_PER_CLIENT: "1000000000", SIGN_IN_LIMIT_PER_IP: "1000000000", SIGN_IN_LIMIT_PER_ACCOUNT: "1000000000" },
  off: { REQUEST_LIMIT_PER_IP: "0", TOKEN_LIMIT_PER_IP: "0", TOKEN_LIMIT_PER_CLIENT: "0", SIGN_IN_LIMIT_PER_IP: "0", SIGN_IN_LIMIT_PER_ACCOUNT: "0" },
};
variants.redis = { ...variants.high, REDIS_URL: "redis://127.0.0.1:6379" };
const db = await createEmptyPostgresDatabase();
const keys = await mkdtemp(path.join(os.tmpdir(), "probe-"));
try {
  const first = await startIdp({ NODE_ENV: "production", GENERATE_KEYS: "true", LOG_LEVEL: "warn", DATABASE_URL: db.url, KEYS_DIR: keys });
  console.log("rss at ready", memoryOf(first.pid).rss / 1e6); await first.stop();
  const bare = await startBareProvider(keys, "x".repeat(43));
  console.log("bare rss at ready", memoryOf(bare.pid).rss / 1e6);
  for (const name of process.argv.slice(2)) {
    const env = variants[name] ?? {};
    const idp = await startIdp({ NODE_ENV: "production", LOG_LEVEL: "warn", DATABASE_URL: db.url, KEYS_DIR: keys, ...env });
    for (const [label, child] of [[name, idp], ["bare", bare]] as const) {
      const http = createHttpClient(16);
      const r = await runLoad({ connections: 16, warmupMs: 1000, durationMs: 4000, operation: () => scenario.jwks(http, { kind: "ours", issuer: child.issuer, serviceSecret: "" }) });
      console.log(label, "jwks", r.rate.toFixed(0), r.p50Ms.toFixed(1), r.errors, r.firstError ?? "");
      http.close();
    }
    await idp.stop();
  }
  await bare.stop();
} finally { killAllChildren(); await db.drop(); await rm(keys, { recursive: true }); }
