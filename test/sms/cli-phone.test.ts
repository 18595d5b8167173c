// Phone numbers through the real `idp` CLI on PostgreSQL: `users add --phone`, `users set-phone`
// (set, verify, remove), normalised to E.164, shown by `users list`, audited; a number that is not
// one, or that another user has, is refused with one line and changes nothing.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEmptyPostgresDatabase } from "../support/database.ts";
import { cliOk, lines, runCli } from "../audit/run-cli.ts";

let database: Awaited<ReturnType<typeof createEmptyPostgresDatabase>>;
let keysDir: string;
let env: Record<string, string>;
let sql: pg.Client;

beforeAll(async () => {
  database = await createEmptyPostgresDatabase();
  keysDir = await mkdtemp(path.join(os.tmpdir(), "idp-sms-cli-keys-"));
  env = { DATABASE_URL: database.url, KEYS_DIR: keysDir };
  sql = new pg.Client({ connectionString: database.url });
  await sql.connect();
}, 60_000);

afterAll(async () => {
  await sql?.end();
  await database?.drop();
  await rm(keysDir, { recursive: true, force: true });
});

async function phoneOf(email: string): Promise<{ phone: string | null; phone_verified: boolean }> {
  return (await sql.query("SELECT phone, phone_verified FROM users WHERE email = $1", [email])).rows[0];
}

/** A refused run: exit 1, the message on stderr's first line. */
async function refused(args: string[], input?: string): Promise<string> {
  const result = await runCli(args, env, input);
  expect(result.status, result.stdout).toBe(1);
  expect(result.stdout).toBe("");
  return lines(result.stderr)[0]!;
}

describe("phone numbers in the CLI", () => {
  it("users add --phone stores E.164, --phone-verified marks it, and users list shows it", async () => {
    await cliOk(["users", "add", "--email", "alice@example.com", "--phone", "+49 151 1234-5678", "--phone-verified"], env, "correct horse battery\n");
    await cliOk(["users", "add", "--email", "bob@example.com"], env, "another long passphrase\n");
    expect(await phoneOf("alice@example.com")).toEqual({ phone: "+4915112345678", phone_verified: true });
    expect(lines((await cliOk(["users", "list"], env)).stdout)).toEqual([
      expect.stringMatching(/^alice@example\.com\t-\t[0-9a-f-]{36}\tunverified, active\t\+4915112345678 \(verified\)$/),
      expect.stringMatching(/^bob@example\.com\t-\t[0-9a-f-]{36}\tunverified, active\t-$/),
    ]);
  });

  it("users set-phone sets, verifies and removes a number, each audited", async () => {
    expect((await cliOk(["users", "set-phone", "Bob@example.com", "0043 664 1234567"], env)).stdout).toBe("phone of bob@example.com set to +436641234567\n");
    expect(await phoneOf("bob@example.com")).toEqual({ phone: "+436641234567", phone_verified: false });
    expect((await cliOk(["users", "set-phone", "bob@example.com", "+436641234567", "--verified"], env)).stdout).toBe(
      "phone of bob@example.com set to +436641234567 (verified)\n",
    );
    expect(await phoneOf("bob@example.com")).toEqual({ phone: "+436641234567", phone_verified: true });
    expect((await cliOk(["users", "set-phone", "bob@example.com", "--remove"], env)).stdout).toBe("phone of bob@example.com removed\n");
    expect(await phoneOf("bob@example.com")).toEqual({ phone: null, phone_verified: false });

    const { rows } = await sql.query("SELECT event, actor, email, details FROM audit_events WHERE event = 'user.phone_changed' ORDER BY id");
    expect(rows.map((row) => [row.event, row.actor, row.email, row.details.phone, row.details.verified])).toEqual([
      ["user.phone_changed", "cli", "bob@example.com", "+436641234567", false],
      ["user.phone_changed", "cli", "bob@example.com", "+436641234567", true],
      ["user.phone_changed", "cli", "bob@example.com", null, false],
    ]);
  });

  it("refuses what is not a phone number in international format, before asking for a password", async () => {
    expect(await refused(["users", "set-phone", "bob@example.com", "0151 12345678"])).toBe(
      'idp: "0151 12345678" is not a phone number in international format, such as +4915112345678',
    );
    expect(await refused(["users", "set-phone", "bob@example.com", "+49 151"])).toMatch(/is not a phone number/);
    expect(await refused(["users", "add", "--email", "carol@example.com", "--phone", "12"], "")).toBe(
      'idp: "12" is not a phone number in international format, such as +4915112345678',
    );
    expect(await refused(["users", "add", "--email", "carol@example.com", "--phone-verified"], "")).toBe("idp: --phone-verified needs --phone");
    expect(await refused(["users", "set-phone", "bob@example.com", "--remove", "--verified"])).toBe("idp: --remove takes no --verified");
    expect(await refused(["users", "set-phone", "bob@example.com"])).toMatch(/expected 2 argument/);
    expect((await sql.query("SELECT count(*)::int AS n FROM users WHERE email = 'carol@example.com'")).rows[0].n).toBe(0);
    expect(await phoneOf("bob@example.com")).toEqual({ phone: null, phone_verified: false });
  });

  it("refuses a number another user has, and an unknown user", async () => {
    expect(await refused(["users", "set-phone", "bob@example.com", "+4915112345678"])).toBe("idp: another user has the phone number +4915112345678");
    expect(await phoneOf("bob@example.com")).toEqual({ phone: null, phone_verified: false });
    expect(await refused(["users", "add", "--email", "carol@example.com", "--phone", "+4915112345678"], "correct horse battery\n")).toBe(
      "idp: another user has the phone number +4915112345678",
    );
    expect(await refused(["users", "set-phone", "nobody@example.com", "+4915112345670"])).toBe("idp: no user with email nobody@example.com");
    const changes = await sql.query("SELECT count(*)::int AS n FROM audit_events WHERE event = 'user.phone_changed'");
    expect(changes.rows[0].n).toBe(3);
  });
});
