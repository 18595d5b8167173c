// The real `idp` CLI as a child process: PostgreSQL commands, errors, and the embedded database shared with a running server.
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import argon2 from "argon2";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COMMAND_GROUPS, runCli } from "../idp/cli/commands.ts";
import type { Command } from "../idp/cli/command.ts";
import { createEmptyPostgresDatabase } from "./support/database.ts";
import { freePort } from "./support/idp.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BIN = path.join("idp", "cli", "bin.ts");
const CLI_TIMEOUT_MS = 30_000;

type Result = { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string };
type Env = Record<string, string>;

const children = new Set<ChildProcess>();
const tempDirs: string[] = [];

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

function spawnCli(args: string[], env: Env): ChildProcess & { output: { stdout: string; stderr: string } } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ["pipe", "pipe", "pipe"] });
  children.add(child);
  const output = { stdout: "", stderr: "" };
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output.stdout += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output.stderr += chunk));
  child.stdin!.on("error", () => {}); // the command may exit before reading stdin
  child.once("exit", () => children.delete(child));
  return Object.assign(child, { output });
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<{ status: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ status: child.exitCode, signal: child.signalCode });
      return;
    }
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`process ${child.pid} did not exit within ${timeoutMs} ms`));
    }, timeoutMs);
    // "close" rather than "exit", so that all of stdout and stderr has been read.
    child.once("close", (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal });
    });
  });
}

/** Runs `node idp/cli/bin.ts ...args` with exactly env, input on stdin (closed at once when absent). */
async function run(args: string[], env: Env, input = ""): Promise<Result> {
  const child = spawnCli(args, env);
  child.stdin!.end(input);
  const { status, signal } = await waitForExit(child, CLI_TIMEOUT_MS);
  return { status, signal, ...child.output };
}

/** A successful run: exit status 0, nothing unexpected on stderr. */
async function ok(args: string[], env: Env, input?: string): Promise<Result> {
  const result = await run(args, env, input);
  expect(result, `idp ${args.join(" ")} failed:\n${result.stderr}`).toMatchObject({ status: 0 });
  return result;
}

/** A failing run: exit status 1 and one "idp: " line on stderr (plus the usage hint for usage errors). */
async function fails(args: string[], env: Env, input?: string): Promise<Result> {
  const result = await run(args, env, input);
  expect(result.status, `idp ${args.join(" ")} should fail; stdout:\n${result.stdout}`).toBe(1);
  expect(result.stderr).toMatch(/^idp: \S/);
  expect(result.stdout).toBe("");
  return result;
}

const lines = (text: string) => text.split("\n").filter((line) => line !== "");

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe("idp CLI on PostgreSQL", () => {
  let database: Awaited<ReturnType<typeof createEmptyPostgresDatabase>>;
  let env: Env;
  let keysDir: string;
  let sql: pg.Client;
  const outputs: Result[] = [];
  const passwords = { first: "correct horse battery", second: "another long passphrase", tooShort: "tiny12" };

  const cli = async (kind: "ok" | "fails", args: string[], input?: string, extraEnv: Env = {}) => {
    const result = await (kind === "ok" ? ok : fails)(args, { ...env, ...extraEnv }, input);
    outputs.push(result);
    return result;
  };

  const passwordHash = async (email: string): Promise<string> => {
    const { rows } = await sql.query<{ password_hash: string }>("SELECT password_hash FROM users WHERE email = $1", [email]);
    expect(rows).toHaveLength(1);
    return rows[0]!.password_hash;
  };

  beforeAll(async () => {
    database = await createEmptyPostgresDatabase();
    keysDir = await tempDir("idp-cli-keys-");
    env = { DATABASE_URL: database.url, KEYS_DIR: keysDir, PATH: process.env.PATH ?? "" };
    sql = new pg.Client({ connectionString: database.url });
    await sql.connect();
  });

  afterAll(async () => {
    await sql?.end();
    await database?.drop();
  });

  it("migrate applies the migrations, then reports the database up to date", async () => {
    const first = await cli("ok", ["migrate"]);
    expect(first.stdout).toMatch(/^applied 001_initial(, \d{3,}_[\w-]+)*\n$/);
    const second = await cli("ok", ["migrate"]);
    expect(second.stdout).toBe("database is up to date\n");
  });

  it("help prints the usage", async () => {
    const result = await cli("ok", ["help"]);
    expect(result.stdout).toContain("Usage: idp <command>");
    expect(result.stdout).toContain("users add --email E");
  });

  it("users add reads the password from stdin, and users list shows the user", async () => {
    const added = await cli("ok", ["users", "add", "--email", "a@example.com", "--name", "A"], `${passwords.first}\n`);
    expect(added.stdout).toMatch(/^added user a@example\.com \(sub [0-9a-f-]{36}\)\n$/);
    const sub = /sub ([0-9a-f-]{36})/.exec(added.stdout)![1]!;

    const listed = await cli("ok", ["users", "list"]);
    expect(lines(listed.stdout)).toEqual([`a@example.com\tA\t${sub}\tunverified, active\t-`]);

    const hash = await passwordHash("a@example.com");
    // argon2id with the OWASP defaults (node-argon2 writes the parameters in the order m, p, t).
    expect(hash).toMatch(/^\$argon2id\$v=19\$[^$]+\$/);
    expect(hash.split("$")[3]!.split(",").sort()).toEqual(["m=19456", "p=1", "t=2"]);
    expect(await argon2.verify(hash, passwords.first)).toBe(true);
  });

  it("users add refuses the same email in another case", async () => {
    const result = await cli("fails", ["users", "add", "--email", "A@EXAMPLE.COM"], `${passwords.second}\n`);
    expect(lines(result.stderr)).toEqual(["idp: a user with email A@EXAMPLE.COM already exists"]);
    expect(lines((await cli("ok", ["users", "list"])).stdout)).toHaveLength(1);
  });

  it("users add refuses a too-short password", async () => {
    const result = await cli("fails", ["users", "add", "--email", "b@example.com"], `${passwords.tooShort}\n`);
    expect(lines(result.stderr)).toEqual(["idp: password must be at least 8 characters"]);
    expect((await cli("ok", ["users", "list"])).stdout).not.toContain("b@example.com");
  });

  it("users add refuses an invalid email", async () => {
    const result = await cli("fails", ["users", "add", "--email", "not-an-email"], `${passwords.second}\n`);
    expect(lines(result.stderr)).toEqual(['idp: "not-an-email" is not an email address']);
  });

  it("users add --email-verified marks the email verified", async () => {
    await cli("ok", ["users", "add", "--email", "c@example.com", "--email-verified"], `${passwords.second}\n`);
    const listed = lines((await cli("ok", ["users", "list"])).stdout);
    expect(listed[1]).toMatch(/^c@example\.com\t-\t[0-9a-f-]{36}\tverified, active\t-$/);
  });

  it("users disable and users enable", async () => {
    expect((await cli("ok", ["users", "disable", "A@example.com"])).stdout).toBe("disabled A@example.com\n");
    expect((await cli("ok", ["users", "list"])).stdout).toMatch(/^a@example\.com\tA\t\S+\tunverified, disabled\t-$/m);
    expect((await cli("ok", ["users", "enable", "a@example.com"])).stdout).toBe("enabled a@example.com\n");
    expect((await cli("ok", ["users", "list"])).stdout).toMatch(/^a@example\.com\tA\t\S+\tunverified, active\t-$/m);

    const missing = await cli("fails", ["users", "disable", "nobody@example.com"]);
    expect(lines(missing.stderr)).toEqual(["idp: no user with email nobody@example.com"]);
  });

  it("users set-password replaces the hash", async () => {
    const before = await passwordHash("a@example.com");
    const result = await cli("ok", ["users", "set-password", "a@example.com"], `${passwords.second}\n`);
    expect(result.stdout).toBe("password changed for a@example.com\n");
    const after = await passwordHash("a@example.com");
    expect(after).not.toBe(before);
    expect(await argon2.verify(after, passwords.second)).toBe(true);
    expect(await argon2.verify(after, passwords.first)).toBe(false);

    const short = await cli("fails", ["users", "set-password", "a@example.com"], `${passwords.tooShort}\n`);
    expect(lines(short.stderr)).toEqual(["idp: password must be at least 8 characters"]);
    expect(await passwordHash("a@example.com")).toBe(after);
  });

  it("clients add creates a public first-party client without a secret", async () => {
    const result = await cli("ok", [
      "clients",
      "add",
      "--id",
      "web",
      "--public",
      "--first-party",
      "--redirect-uri",
      "http://localhost:5173/cb",
    ]);
    expect(result.stdout).toBe("added public client web\n");
    const { rows } = await sql.query("SELECT secret_hash, first_party, redirect_uris FROM clients WHERE id = 'web'");
    expect(rows).toEqual([{ secret_hash: null, first_party: true, redirect_uris: ["http://localhost:5173/cb"] }]);
  });

  it("clients add creates a confidential client and prints its secret exactly once", async () => {
    const result = await cli("ok", [
      "clients",
      "add",
      "--id",
      "api",
      "--redirect-uri",
      "https://app.example.com/cb",
      "--redirect-uri",
      "https://app.example.com/cb2",
    ]);
    const out = lines(result.stdout);
    expect(out[0]).toBe("added confidential client api");
    expect(out).toHaveLength(2);
    const secret = /^client secret \(shown once, store it now\): ([A-Za-z0-9_-]{43})$/.exec(out[1]!)?.[1];
    expect(secret).toBeDefined();
    expect(result.stdout.split(secret!)).toHaveLength(2); // exactly one occurrence
    expect(result.stderr).not.toContain(secret!);

    const { rows } = await sql.query<{ secret_hash: string }>("SELECT secret_hash FROM clients WHERE id = 'api'");
    expect(rows[0]!.secret_hash).toBe(createHash("sha256").update(secret!).digest("hex"));

    const listed = await cli("ok", ["clients", "list"]);
    expect(listed.stdout).not.toContain(secret!);
  });

  it("clients add refuses a duplicate id and an insecure redirect URI", async () => {
    await cli("fails", ["clients", "add", "--id", "web", "--public", "--redirect-uri", "http://localhost:5173/other"]);
    const insecure = await cli("fails", ["clients", "add", "--id", "x", "--redirect-uri", "http://app.example.com/cb"]);
    expect(lines(insecure.stderr)).toHaveLength(1);
    expect(insecure.stderr).toContain("must use https");
  });

  it("clients add --native and --device make public clients of those kinds; a native app's bad redirect is refused", async () => {
    const native = await cli("ok", ["clients", "add", "--id", "desktop", "--native", "--redirect-uri", "com.example.desktop:/cb", "--redirect-uri", "http://127.0.0.1/cb"]);
    expect(native.stdout).toBe("added public native client desktop\n");
    const device = await cli("ok", ["clients", "add", "--id", "tv", "--device", "--first-party"]);
    expect(device.stdout).toBe("added public device client tv\n");
    const { rows } = await sql.query("SELECT id, kind, secret_hash, redirect_uris FROM clients WHERE id IN ('desktop', 'tv') ORDER BY id");
    expect(rows).toEqual([
      { id: "desktop", kind: "native", secret_hash: null, redirect_uris: ["com.example.desktop:/cb", "http://127.0.0.1/cb"] },
      { id: "tv", kind: "device", secret_hash: null, redirect_uris: [] },
    ]);
    const listed = lines((await cli("ok", ["clients", "list"])).stdout);
    expect(listed).toContain("desktop\tpublic, native, third-party\tcom.example.desktop:/cb http://127.0.0.1/cb");
    expect(listed).toContain("tv\tpublic, device, first-party\t");
    const refused = await cli("fails", ["clients", "add", "--id", "bad", "--native", "--redirect-uri", "http://localhost/cb"]);
    expect(refused.stderr).toContain("RFC 8252 §8.3");
    const both = await cli("fails", ["clients", "add", "--id", "bad", "--native", "--device"]);
    expect(both.stderr).toContain("exclude each other");
    await cli("ok", ["clients", "remove", "desktop"]);
    await cli("ok", ["clients", "remove", "tv"]);
  });

  it("clients list shows every client", async () => {
    const result = await cli("ok", ["clients", "list"]);
    expect(lines(result.stdout).sort()).toEqual([
      "api\tconfidential, third-party\thttps://app.example.com/cb https://app.example.com/cb2",
      "web\tpublic, first-party\thttp://localhost:5173/cb",
    ]);
  });

  it("convex config prints this repository's auth.config.ts and the commands that give it values", async () => {
    const authConfig = await readFile(path.join(ROOT, "convex", "auth.config.ts"), "utf8");
    const result = await cli("ok", ["convex", "config", "--client", "web"]);
    expect(result.stdout.startsWith(authConfig.trimEnd() + "\n")).toBe(true);
    expect(lines(result.stdout).filter((line) => line.startsWith("npx convex env set"))).toEqual([
      "npx convex env set IDP_ISSUER http://localhost:3000/oidc",
      "npx convex env set IDP_JWKS_URL http://localhost:3000/oidc/jwks",
      "npx convex env set IDP_CLIENT_ID web",
      "npx convex env set IDP_SERVICE_AUDIENCE convex-services",
    ]);

    // Inside docker compose the backend fetches the JWKS at an internal address; the issuer stays public.
    const compose = await cli("ok", ["convex", "config", "--client", "web", "--jwks-url", "http://idp:3000/oidc/jwks"], undefined, {
      ISSUER: "https://auth.example.com/oidc",
    });
    expect(compose.stdout).toContain("npx convex env set IDP_ISSUER https://auth.example.com/oidc\n");
    expect(compose.stdout).toContain("npx convex env set IDP_JWKS_URL http://idp:3000/oidc/jwks\n");
  });

  it("convex config --write writes auth.config.ts once and never overwrites", async () => {
    const target = path.join(await tempDir("idp-cli-convex-"), "auth.config.ts");
    const written = await cli("ok", ["convex", "config", "--client", "web", "--write", target]);
    expect(written.stdout).toContain(`wrote ${target}\n`);
    expect(await readFile(target, "utf8")).toBe(await readFile(path.join(ROOT, "convex", "auth.config.ts"), "utf8"));
    const again = await cli("fails", ["convex", "config", "--client", "web", "--write", target]);
    expect(lines(again.stderr)[0]).toMatch(/exists/);
  });

  it("convex config fails for an unknown client", async () => {
    const result = await cli("fails", ["convex", "config", "--client", "missing"]);
    expect(lines(result.stderr)).toEqual(["idp: no client with id missing: add it with `idp clients add`"]);
  });

  it("clients remove deletes the client", async () => {
    expect((await cli("ok", ["clients", "remove", "api"])).stdout).toBe("removed client api and revoked its tokens\n");
    expect(lines((await cli("ok", ["clients", "list"])).stdout)).toEqual(["web\tpublic, first-party\thttp://localhost:5173/cb"]);
    const again = await cli("fails", ["clients", "remove", "api"]);
    expect(lines(again.stderr)).toEqual(["idp: no client with id api"]);
  });

  it("clients add --name and --logo-uri give the sign-in pages a name and logo, and clients list shows both", async () => {
    const branded = ["clients", "add", "--id", "branded", "--public", "--redirect-uri", "https://branded.example/cb"];
    const added = await cli("ok", [...branded, "--name", "Branded App", "--logo-uri", "https://cdn.example.com/branded.png"]);
    expect(added.stdout).toBe("added public client branded\n");
    const { rows } = await sql.query("SELECT name, logo_uri FROM clients WHERE id = 'branded'");
    expect(rows).toEqual([{ name: "Branded App", logo_uri: "https://cdn.example.com/branded.png" }]);

    // http only for a local logo; a client with a logo but no name shows "-" for the name.
    await cli("ok", ["clients", "add", "--id", "local", "--public", "--redirect-uri", "http://localhost:5173/cb", "--logo-uri", "http://localhost:5173/logo.svg"]);
    expect(lines((await cli("ok", ["clients", "list"])).stdout)).toEqual([
      "branded\tpublic, third-party\thttps://branded.example/cb\tBranded App\thttps://cdn.example.com/branded.png",
      "local\tpublic, third-party\thttp://localhost:5173/cb\t-\thttp://localhost:5173/logo.svg",
      "web\tpublic, first-party\thttp://localhost:5173/cb",
    ]);
  });

  it("clients add refuses a logo over http off localhost or with credentials in it, and adds nothing", async () => {
    const add = ["clients", "add", "--id", "bad-logo", "--public", "--redirect-uri", "https://bad.example/cb", "--logo-uri"];
    const insecure = await cli("fails", [...add, "http://cdn.example.com/logo.png"]);
    expect(lines(insecure.stderr)).toEqual(['idp: logo URI "http://cdn.example.com/logo.png" must use https (http is allowed for localhost only)']);
    const credentials = await cli("fails", [...add, "https://cdn:hunter2hunter2@cdn.example.com/logo.png"]);
    expect(lines(credentials.stderr)).toEqual(["idp: a logo URI must not contain a user name or password"]);
    const tooLong = await cli("fails", [...add, `https://cdn.example.com/${"a".repeat(2048)}`]);
    expect(lines(tooLong.stderr)).toEqual(["idp: a logo URI must be at most 2048 characters"]);
    const { rows } = await sql.query("SELECT id FROM clients WHERE id = 'bad-logo'");
    expect(rows).toEqual([]);
  });

  it("keys generate creates an active signing key that keys list shows", async () => {
    expect((await cli("ok", ["keys", "list"])).stdout).toBe(`no signing keys in ${keysDir}\n`);
    const generated = await cli("ok", ["keys", "generate"]);
    const kid = /^generated signing key ([A-Za-z0-9_-]{43}) in (.+)$/m.exec(generated.stdout)?.[1];
    expect(kid).toBeDefined();
    expect(generated.stdout).toContain(`generated cookie keys in ${keysDir}`);
    expect((await stat(path.join(keysDir, `signing-${kid}.json`))).mode & 0o777).toBe(0o600);

    const listed = await cli("ok", ["keys", "list"]);
    expect(lines(listed.stdout)).toHaveLength(1);
    expect(listed.stdout).toMatch(new RegExp(`^${kid}\\tsigning\\tcreated \\d{4}-\\d\\d-\\d\\dT\\S+Z, signed from \\S+Z$`, "m"));

    // A second generate would swap keys without staging: it is refused, and the keys are untouched.
    const cookieKeys = await readFile(path.join(keysDir, "cookie-keys.json"), "utf8");
    const second = await cli("fails", ["keys", "generate"]);
    expect(lines(second.stderr)[0]).toMatch(/idp keys rotate/);
    expect(await readFile(path.join(keysDir, "cookie-keys.json"), "utf8")).toBe(cookieKeys);
    expect(lines((await cli("ok", ["keys", "list"])).stdout)).toHaveLength(1);
  });

  it("keys rotate stages the next key; --immediate --revoke-current withdraws the current one", async () => {
    const before = lines((await cli("ok", ["keys", "list"])).stdout);
    const current = before[0]!.split("\t")[0]!;
    const staged = await cli("ok", ["keys", "rotate"]);
    const next = /^added signing key (\S+): published now, signing from (\S+)$/m.exec(staged.stdout);
    expect(next).not.toBeNull();
    // JWKS_MAX_AGE (300 s) plus KEY_ROTATION_MARGIN (60 s) from now.
    const delay = new Date(next![2]!).getTime() - Date.now();
    expect(delay).toBeGreaterThan(355_000);
    expect(delay).toBeLessThanOrEqual(360_000);
    const listed = lines((await cli("ok", ["keys", "list"])).stdout);
    expect(listed.find((line) => line.startsWith(current))).toMatch(/\tsigning\t/);
    expect(listed.find((line) => line.startsWith(next![1]!))).toMatch(/\tnext\tcreated \S+, signs from /);

    const urgent = await cli("ok", ["keys", "rotate", "--immediate", "--revoke-current"]);
    expect(urgent.stderr).toMatch(/warning: .*withdrawn/);
    const after = lines((await cli("ok", ["keys", "list"])).stdout);
    expect(after.find((line) => line.startsWith(current))).toMatch(/\trevoked\t/);
    expect(after.filter((line) => /\tsigning\t/.test(line))).toHaveLength(1);
    expect((await cli("fails", ["keys", "rotate", "--revoke-current"])).stderr).toMatch(/goes with --immediate/);
  });

  it("an unknown command exits 1 with a usage hint", async () => {
    const result = await cli("fails", ["frobnicate"]);
    expect(lines(result.stderr)).toEqual(['idp: unknown command "frobnicate"', "Run `idp help` for usage."]);
    const sub = await cli("fails", ["users", "frobnicate"]);
    expect(lines(sub.stderr)).toEqual(['idp: unknown command "users frobnicate"', "Run `idp help` for usage."]);
  });

  it("a missing required flag or argument exits 1 with a usage hint", async () => {
    const email = await cli("fails", ["users", "add"], `${passwords.second}\n`);
    expect(lines(email.stderr)).toEqual(["idp: --email is required", "Run `idp help` for usage."]);
    const id = await cli("fails", ["clients", "add", "--public", "--redirect-uri", "http://localhost:5173/cb"]);
    expect(lines(id.stderr)).toEqual(["idp: --id is required", "Run `idp help` for usage."]);
    const client = await cli("fails", ["convex", "config"]);
    expect(lines(client.stderr)).toEqual(["idp: --client is required", "Run `idp help` for usage."]);
    const positional = await cli("fails", ["users", "disable"]);
    expect(lines(positional.stderr)).toEqual(["idp: expected 1 argument(s)", "Run `idp help` for usage."]);
    const unknownFlag = await cli("fails", ["users", "list", "--bogus"]);
    expect(lines(unknownFlag.stderr)).toHaveLength(2);
    expect(unknownFlag.stderr).toContain("--bogus");
    expect(lines(unknownFlag.stderr)[1]).toBe("Run `idp help` for usage.");
  });

  it("never prints a password", () => {
    expect(outputs.length).toBeGreaterThan(10);
    for (const result of outputs) {
      for (const password of Object.values(passwords)) {
        expect(result.stdout).not.toContain(password);
        expect(result.stderr).not.toContain(password);
      }
    }
  });
});

describe("idp help", () => {
  // Help needs no configuration and no database: one that a command would try to reach fails at once.
  const env: Env = { DATABASE_URL: "postgres://postgres@127.0.0.1:1/unreachable", PATH: process.env.PATH ?? "" };
  const commands = COMMAND_GROUPS.flatMap((group) => group.commands);

  /** The synopsis lines of a command as `idp help` starts them: each form's first line after the name. */
  const synopses = (command: Command) => command.usage.map((form) => [command.name, form.split("\n")[0]].filter(Boolean).join(" "));

  /** runCli in this process, for checks over every command of the table without a process each. */
  async function helpInProcess(argv: string[]): Promise<string> {
    let stdout = "";
    const sink = { write: (text: string) => (stdout += text) };
    expect(await runCli(argv, {}, { stdout: sink, stderr: sink })).toBeUndefined();
    return stdout;
  }

  it("lists every command of the table with its usage and summary", async () => {
    const help = lines((await ok(["help"], env)).stdout);
    expect(help[0]).toBe("Usage: idp <command>");
    // Every command the CLI has always had is still in the table.
    expect(commands.map((command) => command.name)).toEqual(
      expect.arrayContaining(
        ["serve", "migrate", "audit", "convex config"].concat(
          ["add", "list", "disable", "enable", "unlock", "set-password"].map((verb) => `users ${verb}`),
          ["add", "list", "remove"].map((verb) => `clients ${verb}`),
          ["generate", "rotate", "list"].map((verb) => `keys ${verb}`),
        ),
      ),
    );
    for (const group of COMMAND_GROUPS) {
      expect(help, group.name).toContain(group.title);
      expect(group.commands.length, group.name).toBeGreaterThan(0);
    }
    for (const command of commands) {
      expect(command.usage.length, command.name).toBeGreaterThan(0);
      expect(command.summary.trim(), command.name).not.toBe("");
      for (const synopsis of synopses(command)) {
        expect(help.some((line) => line === `  ${synopsis}` || line.startsWith(`  ${synopsis}  `)), `${synopsis} in idp help`).toBe(true);
      }
      for (const line of command.summary.split("\n")) expect(help.some((listed) => listed.endsWith(line)), `${command.name}: ${line}`).toBe(true);
    }
  });

  it("gives every command of the table its own usage, summary and details", async () => {
    const names = commands.map((command) => command.name);
    expect(new Set(names).size).toBe(names.length);
    for (const command of commands) {
      const help = await helpInProcess(["help", ...command.name.split(" ")]);
      const [first, ...rest] = synopses(command);
      expect(help.startsWith(`Usage: idp ${first}`), `${command.name}:\n${help}`).toBe(true);
      for (const other of rest) expect(help).toContain(`   or: idp ${other}`);
      expect(help).toContain(command.summary.split("\n")[0]!.slice(1));
      if (command.details) expect(help).toContain(command.details);
      expect(await helpInProcess([...command.name.split(" "), "--help"])).toBe(help);
    }
  });

  it("idp help <noun> lists that noun's commands, and so does the noun alone (exit 0)", async () => {
    const help = await ok(["help", "users"], env);
    expect(lines(help.stdout)).toEqual(expect.arrayContaining([expect.stringMatching(/^  users add --email E /), expect.stringMatching(/^  users unlock E +end a sign-in lockout/)]));
    expect(help.stdout).not.toContain("clients add");
    expect((await ok(["users"], env)).stdout).toBe(help.stdout);
    expect((await ok(["users", "--help"], env)).stdout).toBe(help.stdout);
  });

  it("idp help <command> prints its usage and flags; <command> --help the same, without running it", async () => {
    const help = await ok(["help", "clients", "add"], env);
    expect(lines(help.stdout)[0]).toMatch(/^Usage: idp clients add --id ID --redirect-uri URI /);
    expect(help.stdout).toContain("   or: idp clients add --id ID --service [--name N]");
    expect(help.stdout).toMatch(/^--logo-uri +the logo the sign-in pages show/m);
    expect(help.stderr).toBe("");
    expect((await ok(["clients", "add", "--id", "x", "--help"], env)).stdout).toBe(help.stdout);
  });

  it("idp help <unknown> exits 1 with the usage hint", async () => {
    const unknown = await fails(["help", "frobnicate"], env);
    expect(lines(unknown.stderr)).toEqual(['idp: unknown command "frobnicate"', "Run `idp help` for usage."]);
    const sub = await fails(["help", "users", "frobnicate"], env);
    expect(lines(sub.stderr)).toEqual(['idp: unknown command "users frobnicate"', "Run `idp help` for usage."]);
  });
});

describe("idp CLI on the embedded database while the server runs", () => {
  let root: string;
  let dataDir: string;
  let keysDir: string;
  let port: number;
  let server: ReturnType<typeof spawnCli> | undefined;
  const password = "embedded password 1";

  const cliEnv = (): Env => ({ DATA_DIR: dataDir, KEYS_DIR: keysDir, PATH: process.env.PATH ?? "" });

  beforeAll(async () => {
    root = await tempDir("idp-cli-embedded-");
    dataDir = path.join(root, "data");
    keysDir = path.join(root, "keys");
    port = await freePort();
  });

  afterAll(async () => {
    if (server && server.exitCode === null && server.signalCode === null) {
      server.kill("SIGKILL");
      await waitForExit(server, 10_000).catch(() => {});
    }
  });

  it("serve answers /healthz", async () => {
    server = spawnCli(["serve"], { ...cliEnv(), PORT: String(port) });
    server.stdin!.end();
    const deadline = Date.now() + 30_000;
    let status: number | undefined;
    while (Date.now() < deadline && server.exitCode === null) {
      try {
        status = (await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2_000) })).status;
        if (status === 200) break;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(status, `server did not become healthy:\n${server.output.stderr}\n${server.output.stdout}`).toBe(200);
    expect(server.output.stderr).toContain(`embedded database in ${dataDir}`);
    expect(await readFile(path.join(dataDir, "embedded.lock"), "utf8")).toBe(String(server.pid));
  }, 40_000);

  it("users add and users list go through the server's socket", async () => {
    const added = await ok(["users", "add", "--email", "e@example.com", "--name", "E"], cliEnv(), `${password}\n`);
    expect(added.stdout).toMatch(/^added user e@example\.com/);
    const listed = await ok(["users", "list"], cliEnv());
    expect(listed.stdout).toMatch(/^e@example\.com\tE\t[0-9a-f-]{36}\tunverified, active\t-$/m);
    for (const result of [added, listed]) {
      expect(result.stdout + result.stderr).not.toContain(password);
    }

    // The server still owns the data directory: an owner CLI would have removed the lock on close.
    expect(await readFile(path.join(dataDir, "embedded.lock"), "utf8")).toBe(String(server!.pid));
    expect(server!.exitCode).toBeNull();

    // And the user is in the server's database, read through the server's socket.
    const client = new pg.Client({ host: dataDir, port: 5432, user: "postgres", database: "postgres" });
    await client.connect();
    try {
      const { rows } = await client.query("SELECT email, name FROM users");
      expect(rows).toEqual([{ email: "e@example.com", name: "E" }]);
    } finally {
      await client.end();
    }
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  }, 60_000);

  it("serve exits 0 within 10 s of SIGTERM and releases the data directory", async () => {
    server!.kill("SIGTERM");
    const exit = await waitForExit(server!, 10_000);
    expect(exit, server!.output.stderr).toEqual({ status: 0, signal: null });
    await expect(stat(path.join(dataDir, "embedded.lock"))).rejects.toMatchObject({ code: "ENOENT" });
  }, 15_000);

  it("the CLI then owns the data directory itself and still sees the user", async () => {
    const listed = await ok(["users", "list"], cliEnv());
    expect(listed.stdout).toMatch(/^e@example\.com\tE\t[0-9a-f-]{36}\tunverified, active\t-$/m);
    await ok(["users", "add", "--email", "f@example.com"], cliEnv(), `${password}\n`);
    const again = await ok(["users", "list"], cliEnv());
    expect(lines(again.stdout).map((line) => line.split("\t")[0])).toEqual(["e@example.com", "f@example.com"]);
    // Each run opened and closed the database as its owner.
    await expect(stat(path.join(dataDir, "embedded.lock"))).rejects.toMatchObject({ code: "ENOENT" });
  }, 60_000);
});

describe("idp serve in production", () => {
  it("exits 1 without DATABASE_URL, naming it", async () => {
    const root = await tempDir("idp-cli-production-");
    const dataDir = path.join(root, "data");
    const result = await run(["serve"], {
      NODE_ENV: "production",
      DATA_DIR: dataDir,
      KEYS_DIR: path.join(root, "keys"),
      PORT: String(await freePort()),
      PATH: process.env.PATH ?? "",
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^idp: .*DATABASE_URL/);
    expect(lines(result.stderr)).toHaveLength(1);
    // It stopped before touching the embedded database.
    await expect(stat(dataDir)).rejects.toMatchObject({ code: "ENOENT" });
  });
});
