// The machine's own limits, measured in a child process of their own so nothing else competes:
//   sign:   RS256 signatures per second with the IdP's key, the way oidc-provider signs (jose's
//           CompactSign over WebCrypto), N at a time; also node:crypto's synchronous sign on one thread.
//   argon2: argon2id verifications per second with the IdP's default parameters, N at a time.
// Prints one JSON line: the raw run (latencies included), so runs can be combined.
// Usage: node bench/micro.ts sign|argon2 --keys-dir D --connections N --warmup MS --duration MS [--sync-ms MS]
import { createPrivateKey, randomUUID, sign as syncSign } from "node:crypto";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { CompactSign, importJWK } from "jose";
import { loadConfig } from "../idp/config.ts";
import { argon2Params, createPasswordHasher } from "../idp/accounts/passwords.ts";
import { loadSigningKeys } from "../idp/keys/signing-keys.ts";
import { runLoadRaw } from "./load.ts";

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    "keys-dir": { type: "string" },
    connections: { type: "string" },
    warmup: { type: "string" },
    duration: { type: "string" },
    "sync-ms": { type: "string", default: "0" },
  },
});
const connections = Number(values.connections);
const warmupMs = Number(values.warmup);
const durationMs = Number(values.duration);

async function signRate() {
  const [key] = await loadSigningKeys(values["keys-dir"]!);
  if (!key) throw new Error("no signing key");
  const privateKey = await importJWK(key.jwk, "RS256");
  // An ID token's worth of claims.
  const claims = () =>
    Buffer.from(
      JSON.stringify({
        iss: "http://127.0.0.1:3000/oidc",
        sub: randomUUID(),
        aud: "bench-web",
        exp: 2_000_000_000,
        iat: 1_700_000_000,
        auth_time: 1_700_000_000,
        nonce: randomUUID(),
        email: "bench-user-1@example.com",
        email_verified: true,
        name: "Bench User 1",
        updated_at: 1_700_000_000,
        jti: randomUUID(),
      }),
    );
  const load = await runLoadRaw({
    connections,
    warmupMs,
    durationMs,
    operation: () => async () => {
      await new CompactSign(claims()).setProtectedHeader({ alg: "RS256", typ: "JWT", kid: key.kid }).sign(privateKey);
    },
  });
  // The synchronous call blocks its thread: one core's worth, for comparison (when asked for).
  const syncMs = Number(values["sync-ms"]);
  if (syncMs <= 0) return load;
  const pem = createPrivateKey({ key: key.jwk as import("node:crypto").JsonWebKey, format: "jwk" });
  const until = performance.now() + syncMs;
  let signed = 0;
  while (performance.now() < until) {
    syncSign("sha256", claims(), pem);
    signed++;
  }
  return { ...load, syncRate: signed / (syncMs / 1000) };
}

async function argon2Rate() {
  const params = argon2Params(loadConfig({}));
  const hasher = createPasswordHasher(params);
  const password = "bench password number 0 for the load test";
  const hash = await hasher.hash(password);
  const load = await runLoadRaw({
    connections,
    warmupMs,
    durationMs,
    operation: () => async () => {
      if (!(await hasher.verify(hash, password))) throw new Error("argon2 verify failed");
    },
  });
  return { ...load, params };
}

const mode = positionals[0];
const result = mode === "sign" ? await signRate() : mode === "argon2" ? await argon2Rate() : undefined;
if (!result) throw new Error(`unknown mode ${mode}: sign or argon2`);
process.stdout.write(JSON.stringify(result) + "\n");
