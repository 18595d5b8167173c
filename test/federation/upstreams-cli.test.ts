// `idp upstreams` as the operator runs it (the real CLI, a child process, on PostgreSQL): add prints
// the redirect URI to register, reads the secret from stdin and stores it sealed (the database alone
// does not give it away; the server's cookie keys open it); list, disable, enable, remove; presets
// (Google, Microsoft with a tenant, Apple with its key, GitHub); http issuers only outside
// production; each change audited; bad input refused with a clear message and nothing stored.
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEmptyPostgresDatabase } from "../support/database.ts";
import { cliOk, lines, runCli } from "../audit/run-cli.ts";
import { loadConfig } from "../../idp/config.ts";
import { loadKeyMaterial } from "../../idp/keys/key-material.ts";
import { createSealer } from "../../idp/mail/seal.ts";
import { UPSTREAM_SECRET_INFO } from "../../idp/federation/upstream-providers.ts";

let database: Awaited<ReturnType<typeof createEmptyPostgresDatabase>>;
let keysDir: string;
let env: Record<string, string>;
let sql: pg.Client;
let cookieKeys: string[];

beforeAll(async () => {
  database = await createEmptyPostgresDatabase();
  keysDir = await mkdtemp(path.join(os.tmpdir(), "idp-upstream-keys-"));
  env = { DATABASE_URL: database.url, KEYS_DIR: keysDir, ISSUER: "https://idp.example.com/oidc" };
  // The server's keys, as its first start makes them.
  cookieKeys = (await loadKeyMaterial(loadConfig(env))).cookieKeys;
  sql = new pg.Client({ connectionString: database.url });
  await sql.connect();
}, 60_000);

afterAll(async () => {
  await sql?.end();
  await database?.drop();
  if (keysDir) await rm(keysDir, { recursive: true, force: true });
});

const row = async (id: string) => (await sql.query("SELECT * FROM upstream_providers WHERE id = $1", [id])).rows[0];

describe("idp upstreams", { timeout: 300_000 }, () => {
  it("add reads the secret from stdin, stores it sealed, and prints the redirect URI to register", async () => {
    const secret = "corp-client-secret-0123456789";
    const { stdout } = await cliOk(
      ["upstreams", "add", "--id", "corp", "--issuer", "https://login.example.com", "--client-id", "X", "--name", "Example SSO", "--trust-email", "--allow-sign-up", "--email-domains", "Example.com,example.org"],
      env,
      `${secret}\n`,
    );
    expect(stdout).toContain("redirect URI to register at the provider: https://idp.example.com/upstream/callback");
    const stored = await row("corp");
    expect(stored).toMatchObject({ kind: "oidc", issuer: "https://login.example.com", client_id: "X", display_name: "Example SSO", trust_email: true, allow_sign_up: true, email_domains: ["example.com", "example.org"], scopes: "openid email profile" });
    expect(stored.client_secret.toString("latin1")).not.toContain(secret);
    expect(createSealer(cookieKeys, UPSTREAM_SECRET_INFO).open(stored.client_secret)).toEqual({ secret });
    // Another use's key does not open it.
    expect(createSealer(cookieKeys).open(stored.client_secret)).toBeUndefined();
  });

  it("list shows each provider without its secret; disable, enable and remove change it, each audited", async () => {
    expect(lines((await cliOk(["upstreams", "list"], env)).stdout)).toContainEqual("corp\toidc\thttps://login.example.com\tExample SSO\tenabled\ttrust-email\tallow-sign-up\texample.com,example.org");
    await cliOk(["upstreams", "disable", "corp"], env);
    expect((await cliOk(["upstreams", "list"], env)).stdout).toContain("\tdisabled\t");
    await cliOk(["upstreams", "enable", "corp"], env);
    expect((await row("corp")).enabled).toBe(true);
    await cliOk(["upstreams", "remove", "corp"], env);
    expect(await row("corp")).toBeUndefined();
    const { rows } = await sql.query("SELECT event, actor, details FROM audit_events WHERE details->>'upstream' = 'corp' ORDER BY id");
    expect(rows.map((event) => event.event)).toEqual(["upstream.added", "upstream.disabled", "upstream.enabled", "upstream.removed"]);
    expect(rows.every((event) => event.actor === "cli" && !JSON.stringify(event.details).includes("secret-0123"))).toBe(true);
    const unknown = await runCli(["upstreams", "remove", "corp"], env);
    expect(unknown.status).not.toBe(0);
    expect(unknown.stderr).toContain("no upstream provider corp");
  });

  it("presets fill in Google, Microsoft (one tenant), GitHub (OAuth 2) and Apple (its key signs the client secret)", async () => {
    await cliOk(["upstreams", "add", "--id", "google", "--preset", "google", "--client-id", "g.apps.googleusercontent.com"], env, "g-secret\n");
    expect(await row("google")).toMatchObject({ kind: "google", issuer: "https://accounts.google.com", display_name: "Google", scopes: "openid email profile" });
    await cliOk(["upstreams", "add", "--id", "entra", "--preset", "microsoft", "--client-id", "m", "--tenant", "contoso.onmicrosoft.com"], env, "m-secret\n");
    expect(await row("entra")).toMatchObject({ kind: "microsoft", issuer: "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0" });
    await cliOk(["upstreams", "add", "--id", "ms", "--preset", "microsoft", "--client-id", "m"], env, "m-secret\n");
    expect(await row("ms")).toMatchObject({ issuer: "https://login.microsoftonline.com/common/v2.0" });
    await cliOk(["upstreams", "add", "--id", "gh", "--preset", "github", "--client-id", "Iv1.x"], env, "gh-secret\n");
    expect(await row("gh")).toMatchObject({ kind: "github", issuer: "https://github.com", scopes: "read:user user:email", display_name: "GitHub" });

    const pem = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" }).toString();
    const noTeam = await runCli(["upstreams", "add", "--id", "apple", "--preset", "apple", "--client-id", "com.example.web"], env, pem);
    expect(noTeam.stderr).toContain("--team-id and --key-id");
    expect(await row("apple")).toBeUndefined();
    await cliOk(["upstreams", "add", "--id", "apple", "--preset", "apple", "--client-id", "com.example.web", "--team-id", "TEAM123456", "--key-id", "KEY1234567"], env, pem);
    expect(await row("apple")).toMatchObject({ kind: "apple", issuer: "https://appleid.apple.com", options: { teamId: "TEAM123456", keyId: "KEY1234567" } });
  });

  it("refuses bad input with a clear message, storing nothing", async () => {
    const refused = async (args: string[], message: string, input = "secret\n", extra: Record<string, string> = {}) => {
      const result = await runCli(["upstreams", "add", ...args], { ...env, ...extra }, input);
      expect(result.status, result.stdout).not.toBe(0);
      expect(result.stderr).toContain(message);
    };
    await refused(["--id", "Bad Id", "--issuer", "https://a.example", "--client-id", "x"], "not a valid id");
    await refused(["--id", "a", "--issuer", "not a url", "--client-id", "x"], "is not an absolute URL");
    await refused(["--id", "a", "--issuer", "https://a.example", "--client-id", "x", "--scopes", "email"], "--scopes must include openid");
    await refused(["--id", "a", "--issuer", "https://a.example", "--client-id", "x", "--email-domains", "not_a_domain"], "not a domain");
    await refused(["--id", "a", "--preset", "facebook", "--client-id", "x"], "unknown preset");
    await refused(["--id", "a", "--issuer", "https://a.example", "--client-id", "x"], "no client secret", "");
    await refused(["--id", "google", "--preset", "google", "--client-id", "x"], "already exists");
    // http only in development.
    await refused(["--id", "a", "--issuer", "http://login.example.com", "--client-id", "x"], "must use https in production", "secret\n", { NODE_ENV: "production" });
    expect(await row("a")).toBeUndefined();
    await cliOk(["upstreams", "add", "--id", "dev", "--issuer", "http://127.0.0.1:8080", "--client-id", "x"], env, "secret\n");
  });
});
