// The CLI's part of administration, as an operator runs it: `idp users add --role` (repeatable or a
// comma list) makes the first administrator, `idp users roles` shows and changes roles, and
// `idp clients add --service --scopes` grants admin API scopes; bad names are usage errors.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { createEmptyPostgresDatabase } from "../support/database.ts";
import { cliOk, lines, runCli } from "../audit/run-cli.ts";

let database: Awaited<ReturnType<typeof createEmptyPostgresDatabase>>;
let keysDir: string;
let env: Record<string, string>;

beforeAll(async () => {
  database = await createEmptyPostgresDatabase();
  keysDir = await mkdtemp(path.join(os.tmpdir(), "idp-admin-cli-"));
  env = { DATABASE_URL: database.url, KEYS_DIR: keysDir };
});
afterAll(async () => {
  await database?.drop();
  await rm(keysDir, { recursive: true, force: true });
});

describe("roles and scopes from the CLI", () => {
  it("users add --role, users roles, clients add --service --scopes", async () => {
    const added = await cliOk(["users", "add", "--email", "ada@example.com", "--role", "admin", "--role", "editor,billing"], env, "violet tractor sandwich\n");
    expect(lines(added.stdout)[0]).toMatch(/^added user ada@example\.com \(sub [0-9a-f-]{36}\) with roles admin, billing, editor$/);

    const changed = await cliOk(["users", "roles", "ada@example.com", "--add", "support", "--remove", "billing"], env);
    expect(lines(changed.stdout)).toEqual(["ada@example.com\tadmin,editor,support"]);

    const bad = await runCli(["users", "roles", "ada@example.com", "--add", "Not A Role"], env);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/not a role name/);

    const client = await cliOk(["clients", "add", "--id", "ops-bot", "--service", "--scopes", "admin:users:read,admin:audit:read"], env);
    expect(lines(client.stdout)).toEqual(["added service client ops-bot", "scopes: admin:audit:read admin:users:read", expect.stringMatching(/^client secret \(shown once, store it now\): \S+$/)]);
    const wrong = await runCli(["clients", "add", "--id", "x", "--service", "--scopes", "admin:everything"], env);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toMatch(/not a scope/);

    const sql = new pg.Client({ connectionString: database.url });
    await sql.connect();
    try {
      const { rows } = await sql.query("SELECT event, actor, details FROM audit_events WHERE event IN ('user.roles_changed', 'client.created') ORDER BY id");
      expect(rows).toEqual([
        expect.objectContaining({ event: "user.roles_changed", actor: "cli", details: expect.objectContaining({ roles: "admin,editor,support", added: "support", removed: "billing" }) }),
        expect.objectContaining({ event: "client.created", actor: "cli", details: expect.objectContaining({ kind: "service", scopes: "admin:audit:read admin:users:read" }) }),
      ]);
    } finally {
      await sql.end();
    }
  }, 180_000);
});
