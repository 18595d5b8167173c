// `idp doctor token|config` end to end: a real listening IdP, real auth.config.ts files in a temp
// directory, a real JWKS server for the broken-JWKS rows, and the command run as a process (and,
// for the long table, through runCli in this process with the same environment).
import { spawn } from "node:child_process";
import { copyFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { SignJWT, exportJWK, generateKeyPair, importJWK, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../idp/cli/commands.ts";
import { loadSigningKeys } from "../../idp/keys/signing-keys.ts";
import { startTestIdp, type TestIdp } from "../support/idp.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLIENT = "my-app";
const SERVICE_CLIENT = "inference-worker";
const SERVICE_AUDIENCE = "convex-services";

let idp: TestIdp;
let env: Record<string, string>;
let dir: string;
let serviceSecret: string;
let jwksServer: http.Server;
let jwksBase: string;
/** What the fake JWKS server answers, by path. */
const jwksRoutes: Record<string, { body: unknown; headers: Record<string, string> }> = {};

type Result = { status: number; stdout: string; stderr: string };

/** The CLI as a child process, stdin given and closed. */
function runProcess(args: string[], input = ""): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join("idp", "cli", "bin.ts"), ...args], { cwd: ROOT, env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.once("error", reject);
    child.once("close", (status) => {
      clearTimeout(timer);
      resolve({ status: status ?? -1, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

/** The same command through runCli in this process, with the same environment. */
async function runHere(args: string[]): Promise<Result> {
  let stdout = "";
  let stderr = "";
  const status = await runCli(args, env, { stdout: { write: (text: string) => (stdout += text) }, stderr: { write: (text: string) => (stderr += text) } });
  return { status: status ?? 0, stdout, stderr };
}

const lines = (text: string) => text.split("\n").filter(Boolean);
const failed = (result: Result) => lines(result.stdout).filter((line) => line.startsWith("FAIL")).map((line) => /^FAIL ([^:]+):/.exec(line)![1]);

beforeAll(async () => {
  idp = await startTestIdp({ env: { SERVICE_TOKEN_AUDIENCE: SERVICE_AUDIENCE } });
  await idp.admin.addClient({ id: CLIENT, public: true, firstParty: true, redirectUris: ["http://localhost:5173/callback"] });
  serviceSecret = (await idp.admin.addClient({ id: SERVICE_CLIENT, service: true, public: false, firstParty: false, redirectUris: [] })).secret!;
  env = { ISSUER: idp.issuer, KEYS_DIR: idp.config.keysDir, DATABASE_URL: idp.database.url!, SERVICE_TOKEN_AUDIENCE: SERVICE_AUDIENCE, LOG_LEVEL: "silent", PATH: process.env.PATH ?? "" };
  dir = await mkdtemp(path.join(os.tmpdir(), "doctor-config-"));
  jwksServer = http.createServer((request, response) => {
    const route = jwksRoutes[request.url ?? ""];
    if (!route) return void response.writeHead(404).end();
    response.writeHead(200, route.headers).end(JSON.stringify(route.body));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, "127.0.0.1", resolve));
  jwksBase = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => jwksServer?.close(resolve));
  await idp?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("idp doctor token", () => {
  it("passes a real service token from the running IdP, read from stdin, and exits 0", async () => {
    const response = await fetch(`${idp.issuer}/token`, {
      method: "POST",
      headers: { authorization: `Basic ${btoa(`${SERVICE_CLIENT}:${serviceSecret}`)}`, "content-type": "application/x-www-form-urlencoded" },
      body: "grant_type=client_credentials",
    });
    expect(response.status).toBe(200);
    const { access_token } = (await response.json()) as { access_token: string };
    const result = await runProcess(["doctor", "token", "-"], `${access_token}\n`);
    expect(result.stderr).toBe("");
    expect(lines(result.stdout).map((line) => line.split(":")[0])).toEqual(
      ["alg", "kid", "jwks-key", "signature", "iss", "aud", "exp", "iat", "nbf", "sub", "claim-types", "auth-config"].map((rule) => `PASS ${rule}`),
    );
    expect(result.stdout).toContain(`PASS aud: ${SERVICE_AUDIENCE} (the service audience)`);
    expect(result.status).toBe(0);
  });

  it("fails an ID token whose iss has a trailing slash, with exit status 1", async () => {
    const [key] = await loadSigningKeys(idp.config.keysDir);
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ iss: `${idp.issuer}/`, sub: "user-1", aud: CLIENT, iat: now, exp: now + 600 })
      .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: key!.kid })
      .sign(await importJWK(key!.jwk, "RS256"));
    const result = await runProcess(["doctor", "token", token]);
    expect(result.status).toBe(1);
    expect(failed(result)).toEqual(["iss"]);
    expect(result.stdout).toMatch(/^FAIL iss: .*customJwt form forgives this.*OIDC form does not.*\. Fix: /m);
  });

  it("fails what is not a token with one line", async () => {
    const result = await runProcess(["doctor", "token", "not-a-jwt"]);
    expect(result).toMatchObject({ status: 1, stderr: "" });
    expect(lines(result.stdout)).toEqual([expect.stringMatching(/^FAIL decode: a JWT has three dot-separated parts, this has 1\. Fix: /)]);
  });

  it("is a usage error without a token", async () => {
    const result = await runProcess(["doctor", "token"]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^idp: expected 1 argument/);
  });
});

const CUSTOM = (fields: Record<string, string>) =>
  `import type { AuthConfig } from "convex/server";\n// a comment with providers: [ in it\nexport default {\n  providers: [\n    {\n${Object.entries(fields)
    .map(([name, value]) => `      ${name}: ${value},`)
    .join("\n")}\n    },\n  ],\n} satisfies AuthConfig;\n`;

describe("idp doctor config", () => {
  const good = () => ({ type: '"customJwt"', issuer: JSON.stringify(idp.issuer), jwks: JSON.stringify(`${idp.issuer}/jwks`), algorithm: '"RS256"', applicationID: JSON.stringify(CLIENT) });
  const writeConfig = async (name: string, source: string) => {
    const file = path.join(dir, `${name}.auth.config.ts`);
    await writeFile(file, source);
    return file;
  };

  it("passes the repository's convex/auth.config.ts with the deployment's values, as a process", async () => {
    const file = path.join(dir, "auth.config.ts");
    await copyFile(path.join(ROOT, "convex", "auth.config.ts"), file);
    const result = await runProcess([
      "doctor", "config", "--auth-config", file,
      "--env", `IDP_ISSUER=${idp.issuer}`, "--env", `IDP_JWKS_URL=${idp.issuer}/jwks`,
      "--env", `IDP_CLIENT_ID=${CLIENT}`, "--env", `IDP_SERVICE_AUDIENCE=${SERVICE_AUDIENCE}`,
    ]);
    expect(result.stderr).toBe("");
    expect(failed(result)).toEqual([]);
    const rules = lines(result.stdout).map((line) => line.split(":")[0]);
    expect(rules.slice(0, 6)).toEqual(["discovery", "jwks-fetch", "jwks-content-type", "jwks-cache", "jwks-keys", "jwks-signing-key"].map((rule) => `PASS ${rule}`));
    expect(rules).toContain("PASS provider[1].applicationID");
    expect(result.stdout).toContain(`PASS provider[0].issuer: ${idp.issuer} (process.env.IDP_ISSUER)`);
    expect(result.status).toBe(0);
  });

  it("without --env, says what each process.env value must be", async () => {
    const result = await runHere(["doctor", "config", "--auth-config", path.join(ROOT, "convex", "auth.config.ts")]);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`PASS provider[0].issuer: reads process.env.IDP_ISSUER: the deployment must have it set to ${idp.issuer}`);
  });

  it("passes the OIDC form", async () => {
    const file = await writeConfig("oidc", `export default { providers: [{ domain: ${JSON.stringify(idp.issuer)}, applicationID: "${CLIENT}" }] };`);
    const result = await runHere(["doctor", "config", "--auth-config", file]);
    expect(failed(result)).toEqual([]);
    expect(result.status).toBe(0);
  });

  type Row = { name: string; fields: (good: Record<string, string>) => Record<string, string>; fails: string[]; says: RegExp };
  const rows: Row[] = [
    { name: "an issuer with a trailing slash", fields: (g) => ({ ...g, issuer: JSON.stringify(`${idp.issuer}/`) }), fails: ["provider[0].issuer"], says: /trailing '\/'.*routing trims/ },
    { name: "an https issuer for an http IdP", fields: (g) => ({ ...g, issuer: JSON.stringify(idp.issuer.replace("http:", "https:")) }), fails: ["provider[0].issuer"], says: /it says https where the IdP says http.*No auth provider found/ },
    { name: "127.0.0.1 for localhost", fields: (g) => ({ ...g, issuer: JSON.stringify(idp.issuer.replace("localhost", "127.0.0.1")) }), fails: ["provider[0].issuer"], says: /it says 127\.0\.0\.1 where the IdP says localhost/ },
    { name: "a jwks URL on another path", fields: (g) => ({ ...g, jwks: JSON.stringify(`${idp.issuer}/.well-known/jwks.json`) }), fails: ["provider[0].jwks"], says: /the path differs/ },
    { name: "a data: jwks", fields: (g) => ({ ...g, jwks: '"data:application/json,{}"' }), fails: ["provider[0].jwks"], says: /next key rotation breaks every token/ },
    { name: "an unknown applicationID", fields: (g) => ({ ...g, applicationID: '"nobody"' }), fails: ["provider[0].applicationID"], says: /neither a registered client nor the service audience/ },
    { name: "no applicationID", fields: ({ applicationID: _drop, ...g }) => g, fails: ["provider[0].applicationID"], says: /never checks aud/ },
    { name: "ES256", fields: (g) => ({ ...g, algorithm: '"ES256"' }), fails: ["provider[0].algorithm"], says: /RS256 only/ },
    { name: "a computed value", fields: (g) => ({ ...g, applicationID: "clientId()" }), fails: ["provider[0].applicationID"], says: /clientId\(\) is computed, and the doctor does not run code/ },
    { name: "another type", fields: (g) => ({ ...g, type: '"oidc"' }), fails: ["provider[0].type"], says: /neither customJwt nor the OIDC form/ },
  ];

  it.each(rows)("fails $name on that line alone", async (row) => {
    const file = await writeConfig(row.name.replace(/\W+/g, "-"), CUSTOM(row.fields(good())));
    const result = await runHere(["doctor", "config", "--auth-config", file]);
    expect(failed(result)).toEqual(row.fails);
    expect(result.stdout).toMatch(new RegExp(`^FAIL ${row.fails[0]!.replace(/[[\]]/g, "\\$&")}: .*${row.says.source}.*\\. Fix: \\S`, "m"));
    expect(result.status).toBe(1);
  });

  it("fails a file it cannot read as literals, without running it", async () => {
    const file = await writeConfig("spread", "const base = {};\nexport default { providers: [{ ...base }] };\nprocess.exit(7);\n");
    const result = await runHere(["doctor", "config", "--auth-config", file]);
    expect(failed(result)).toEqual(["auth-config-file"]);
    expect(result.status).toBe(1);
  });

  describe("a JWKS served other than Convex needs (--jwks-url)", () => {
    let published: JWK[];
    beforeAll(async () => {
      published = (await (await fetch(`${idp.issuer}/jwks`)).json() as { keys: JWK[] }).keys;
    });

    const serve = (route: string, body: unknown, headers: Record<string, string>) => {
      jwksRoutes[route] = { body, headers };
      return `${jwksBase}${route}`;
    };
    const json = { "content-type": "application/json", "cache-control": "public, max-age=300" };

    it("passes a faithful copy (as a proxy would serve it)", async () => {
      const result = await runHere(["doctor", "config", "--jwks-url", serve("/good", { keys: published }, json)]);
      expect(failed(result)).toEqual([]);
      expect(result.status).toBe(0);
    });

    const rows = [
      { name: "text/plain", route: "/text", body: () => ({ keys: published }), headers: { ...json, "content-type": "text/plain" }, fails: ["jwks-content-type"] },
      { name: "no Cache-Control", route: "/nocache", body: () => ({ keys: published }), headers: { "content-type": "application/json" }, fails: ["jwks-cache"] },
      { name: "an Ed25519 key beside the RSA keys", route: "/okp", body: async () => ({ keys: [...published, { ...(await exportJWK((await generateKeyPair("EdDSA", { extractable: true })).publicKey)), kid: "ed" }] }), headers: json, fails: ["jwks-keys"] },
      { name: "another IdP's keys", route: "/foreign", body: async () => ({ keys: [{ ...(await exportJWK((await generateKeyPair("RS256", { extractable: true })).publicKey)), kid: "other" }] }), headers: json, fails: ["jwks-signing-key"] },
    ];

    it.each(rows)("fails $name on that line alone", async (row) => {
      const result = await runHere(["doctor", "config", "--jwks-url", serve(row.route, await row.body(), row.headers)]);
      expect(failed(result)).toEqual(row.fails);
      expect(result.status).toBe(1);
    });

    it("fails an unreachable JWKS URL with the docker compose hint", async () => {
      const result = await runHere(["doctor", "config", "--jwks-url", `${jwksBase}/missing`]);
      expect(failed(result)[0]).toBe("jwks-fetch");
      expect(result.stdout).toMatch(/^FAIL jwks-fetch: the JWKS .*\/missing answered HTTP 404\. Fix: .*http:\/\/idp:3000\/oidc\/jwks/m);
      expect(result.status).toBe(1);
    });
  });
});
