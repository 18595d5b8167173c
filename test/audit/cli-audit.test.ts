// The real `idp` CLI on PostgreSQL: every operator command records its event as actor "cli" with the OS
// user, and `idp audit` prints the trail oldest first, filtered by --user, --since and --limit.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEmptyPostgresDatabase } from "../support/database.ts";
import { cliOk, lines, runCli } from "./run-cli.ts";

let database: Awaited<ReturnType<typeof createEmptyPostgresDatabase>>;
let keysDir: string;
let env: Record<string, string>;
let sql: pg.Client;
let aliceId: string;
let bobId: string;
let kid: string;

// time, event, actor, email or user id, client, ip, details
const LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\t([a-z_.]+)\t(\S+)\t(\S+)\t(\S+)\t(\S+)\t(\{.*\})$/;

const parsed = (stdout: string) =>
  lines(stdout).map((line) => {
    const match = LINE.exec(line);
    expect(match, line).not.toBeNull();
    const [, time, event, actor, who, client, ip, details] = match!;
    return { time: time!, event: event!, actor: actor!, who: who!, client: client!, ip: ip!, details: JSON.parse(details!) as Record<string, unknown> };
  });

const brief = (stdout: string) => parsed(stdout).map(({ event, who, client }) => `${event} ${who} ${client}`);

beforeAll(async () => {
  database = await createEmptyPostgresDatabase();
  keysDir = await mkdtemp(path.join(os.tmpdir(), "idp-audit-keys-"));
  env = { DATABASE_URL: database.url, KEYS_DIR: keysDir };
  sql = new pg.Client({ connectionString: database.url });
  await sql.connect();

  aliceId = /sub ([0-9a-f-]{36})/.exec((await cliOk(["users", "add", "--email", "alice@example.com"], env, "violet tractor sandwich\n")).stdout)![1]!;
  bobId = /sub ([0-9a-f-]{36})/.exec((await cliOk(["users", "add", "--email", "bob@example.com"], env, "bob's long passphrase\n")).stdout)![1]!;
  await cliOk(["users", "set-password", "alice@example.com"], env, "another violet tractor\n");
  await cliOk(["users", "disable", "alice@example.com"], env);
  await cliOk(["users", "enable", "alice@example.com"], env);
  await cliOk(["clients", "add", "--id", "web", "--public", "--first-party", "--redirect-uri", "http://localhost:5173/cb"], env);
  await cliOk(["clients", "add", "--id", "partner", "--redirect-uri", "https://partner.example/cb"], env);
  await cliOk(["clients", "remove", "partner"], env);
  kid = /generated signing key (\S+)/.exec((await cliOk(["keys", "generate"], env)).stdout)![1]!;
}, 120_000);

afterAll(async () => {
  await sql?.end();
  await database?.drop();
  if (keysDir) await rm(keysDir, { recursive: true, force: true });
});

describe("operator commands", () => {
  it("each record their event as actor cli, with the OS user", async () => {
    const { rows } = await sql.query("SELECT event, actor, user_id, email, client_id, ip, details FROM audit_events ORDER BY id");
    const osUser = { os_user: os.userInfo().username };
    expect(rows).toEqual([
      { event: "user.created", actor: "cli", user_id: aliceId, email: "alice@example.com", client_id: null, ip: null, details: osUser },
      { event: "user.created", actor: "cli", user_id: bobId, email: "bob@example.com", client_id: null, ip: null, details: osUser },
      { event: "password.changed", actor: "cli", user_id: aliceId, email: "alice@example.com", client_id: null, ip: null, details: osUser },
      { event: "user.disabled", actor: "cli", user_id: aliceId, email: "alice@example.com", client_id: null, ip: null, details: osUser },
      { event: "user.enabled", actor: "cli", user_id: aliceId, email: "alice@example.com", client_id: null, ip: null, details: osUser },
      { event: "client.created", actor: "cli", user_id: null, email: null, client_id: "web", ip: null, details: { ...osUser, kind: "public", first_party: true } },
      {
        event: "client.created",
        actor: "cli",
        user_id: null,
        email: null,
        client_id: "partner",
        ip: null,
        details: { ...osUser, kind: "confidential", first_party: false },
      },
      { event: "client.removed", actor: "cli", user_id: null, email: null, client_id: "partner", ip: null, details: osUser },
      { event: "key.generated", actor: "cli", user_id: null, email: null, client_id: null, ip: null, details: { ...osUser, kid } },
    ]);
  });

  it("refuse a common password in users add and users set-password, and record nothing", async () => {
    const before = (await sql.query("SELECT count(*)::int AS n FROM audit_events")).rows[0].n;
    const add = await runCli(["users", "add", "--email", "carol@example.com"], env, "iloveyou\n");
    expect(add.status).toBe(1);
    expect(lines(add.stderr)).toEqual(["idp: password is one of the most commonly used passwords: choose another"]);
    const set = await runCli(["users", "set-password", "bob@example.com"], env, "bob@example.com\n");
    expect(set.status).toBe(1);
    expect(lines(set.stderr)).toEqual(["idp: password must not be the email address or the part before the @"]);
    expect((await sql.query("SELECT count(*)::int AS n FROM audit_events")).rows[0].n).toBe(before);
  });
});

describe("idp audit", () => {
  it("prints every event oldest first, one per line", async () => {
    const result = await cliOk(["audit"], env);
    expect(result.stderr).toBe("");
    const events = parsed(result.stdout);
    expect(brief(result.stdout)).toEqual([
      "user.created alice@example.com -",
      "user.created bob@example.com -",
      "password.changed alice@example.com -",
      "user.disabled alice@example.com -",
      "user.enabled alice@example.com -",
      "client.created - web",
      "client.created - partner",
      "client.removed - partner",
      "key.generated - -",
    ]);
    const times = events.map((event) => event.time);
    expect([...times].sort()).toEqual(times);
    expect(events.every((event) => event.actor === "cli" && event.ip === "-")).toBe(true);
    expect(events.at(-1)!.details).toEqual({ os_user: os.userInfo().username, kid });
  });

  it("--user takes an email (any case) or a user id", async () => {
    const alice = await cliOk(["audit", "--user", "ALICE@example.com"], env);
    expect(brief(alice.stdout)).toEqual([
      "user.created alice@example.com -",
      "password.changed alice@example.com -",
      "user.disabled alice@example.com -",
      "user.enabled alice@example.com -",
    ]);
    expect(brief((await cliOk(["audit", "--user", bobId], env)).stdout)).toEqual(["user.created bob@example.com -"]);
    expect((await cliOk(["audit", "--user", "nobody@example.com"], env)).stdout).toBe("no events\n");
  });

  it("--since takes a duration back from now or an ISO date/time", async () => {
    // Two older events, written as the IdP would have written them then.
    await sql.query(
      `INSERT INTO audit_events (occurred_at, event, actor, user_id, email, client_id, ip, details) VALUES
         (now() - interval '3 days', 'sign_in.failed', 'anonymous', NULL, 'mallory@example.com', 'web', '203.0.113.9', '{"reason":"invalid_credentials"}'),
         (now() - interval '2 hours', 'sign_in.succeeded', 'user:${bobId}', '${bobId}', 'bob@example.com', 'web', '198.51.100.7', '{}')`,
    );
    const all = await cliOk(["audit"], env);
    expect(brief(all.stdout).slice(0, 2)).toEqual(["sign_in.failed mallory@example.com web", "sign_in.succeeded bob@example.com web"]);
    expect(lines(all.stdout)[0]).toMatch(/\tanonymous\tmallory@example\.com\tweb\t203\.0\.113\.9\t\{"reason":"invalid_credentials"\}$/);

    const day = await cliOk(["audit", "--since", "24h"], env);
    expect(brief(day.stdout)[0]).toBe("sign_in.succeeded bob@example.com web");
    expect(lines(day.stdout)).toHaveLength(10);
    expect(lines((await cliOk(["audit", "--since", "7d"], env)).stdout)).toHaveLength(11);
    expect(lines((await cliOk(["audit", "--since", "90m"], env)).stdout)).toHaveLength(9);

    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000).toISOString();
    expect(brief((await cliOk(["audit", "--since", twoDaysAgo], env)).stdout)[0]).toBe("sign_in.succeeded bob@example.com web");
    expect(lines((await cliOk(["audit", "--since", twoDaysAgo.slice(0, 10)], env)).stdout)).toHaveLength(10);

    const bobToday = await cliOk(["audit", "--user", "bob@example.com", "--since", "1d"], env);
    expect(brief(bobToday.stdout)).toEqual(["sign_in.succeeded bob@example.com web", "user.created bob@example.com -"]);
    const bobRecent = await cliOk(["audit", "--user", "bob@example.com", "--since", "90m"], env);
    expect(brief(bobRecent.stdout)).toEqual(["user.created bob@example.com -"]);
  });

  it("--limit N prints the most recent N, still oldest first", async () => {
    const all = lines((await cliOk(["audit"], env)).stdout);
    expect(lines((await cliOk(["audit", "--limit", "3"], env)).stdout)).toEqual(all.slice(-3));
    expect(lines((await cliOk(["audit", "--limit", "1"], env)).stdout)).toEqual(all.slice(-1));
  });

  it("escapes control characters someone typed, so they never reach the terminal", async () => {
    await sql.query(
      `INSERT INTO audit_events (event, actor, email, details) VALUES ('sign_in.failed', 'anonymous', $1, $2)`,
      ["evil\u001b[2J\tx@example.com", { note: "bell\u0007 next\u0085line" }],
    );
    const last = lines((await cliOk(["audit", "--limit", "1"], env)).stdout);
    expect(last).toHaveLength(1);
    expect(last[0]).toContain("evil\\u001b[2J\\u0009x@example.com");
    expect(last[0]).not.toMatch(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/);
    expect(last[0]!.split("\t")).toHaveLength(7);
  });

  it("refuses bad input with one line and exit status 1", async () => {
    const cases: [string[], string][] = [
      [["--since", "yesterday"], 'idp: --since "yesterday" is neither an ISO date/time (2025-01-31, 2025-01-31T12:00:00Z) nor a duration (30m, 24h, 7d)'],
      [["--since", "2025-02-30"], 'idp: --since "2025-02-30" is neither an ISO date/time (2025-01-31, 2025-01-31T12:00:00Z) nor a duration (30m, 24h, 7d)'],
      [["--since=-5h"], 'idp: --since "-5h" is neither an ISO date/time (2025-01-31, 2025-01-31T12:00:00Z) nor a duration (30m, 24h, 7d)'],
      [["--limit", "0"], 'idp: --limit "0" must be a whole number from 1 to 100000'],
      [["--limit", "ten"], 'idp: --limit "ten" must be a whole number from 1 to 100000'],
      [["--limit", "2.5"], 'idp: --limit "2.5" must be a whole number from 1 to 100000'],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(["audit", ...args], env);
      expect(result.status, args.join(" ")).toBe(1);
      expect(result.stdout).toBe("");
      expect(lines(result.stderr)).toEqual([message]);
    }
  });
});
