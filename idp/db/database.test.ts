// Prepared statements on a real PostgreSQL server: a parameterised statement is prepared once per
// connection and reused, in and out of transactions; statements without parameters stay unnamed
// (several statements in one string still work); the option turns it off. And the statement
// timeout: PostgreSQL cancels a slow statement, which counts as the database being unavailable, and
// a connection whose server stops answering is given up on and never reused.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEmptyPostgresDatabase } from "../../test/support/database.ts";
import { startTcpProxy } from "../../test/support/tcp-proxy.ts";
import { isDatabaseUnavailable } from "./availability.ts";
import { createDatabase, createPool, type Database } from "./database.ts";

describe("createDatabase on PostgreSQL", () => {
  let empty: { url: string; drop(): Promise<void> };
  beforeAll(async () => {
    empty = await createEmptyPostgresDatabase();
  });
  afterAll(async () => empty?.drop());

  /** The statements this session has prepared (one connection: the pool has max 1). */
  const preparedHere = async (db: Database) =>
    (await db.query<{ name: string; statement: string }>("SELECT name, statement FROM pg_prepared_statements WHERE name LIKE 'idp_%'", [])).rows;

  it("prepares a parameterised statement once and reuses it", async () => {
    const db = createDatabase(createPool(empty.url, 1));
    try {
      for (let run = 0; run < 3; run++) expect((await db.query<{ n: number }>("SELECT $1::int + 1 AS n", [run])).rows[0]!.n).toBe(run + 1);
      await db.transaction(async (tx) => {
        expect((await tx.query<{ n: number }>("SELECT $1::int + 1 AS n", [41])).rows[0]!.n).toBe(42);
      });
      const prepared = (await preparedHere(db)).filter((row) => row.statement.includes("$1::int + 1"));
      expect(prepared).toHaveLength(1);
    } finally {
      await db.close();
    }
  });

  it("sends statements without parameters unnamed, so several in one string work", async () => {
    const db = createDatabase(createPool(empty.url, 1));
    try {
      await db.query("CREATE TABLE several (n int); INSERT INTO several VALUES (1); DROP TABLE several;");
      expect((await preparedHere(db)).filter((row) => row.statement.includes("several"))).toHaveLength(0);
    } finally {
      await db.close();
    }
  });

  it("has PostgreSQL cancel a statement past the statement timeout, as an outage, and keeps working", async () => {
    const db = createDatabase(createPool(empty.url, 1, { statementTimeoutMs: 200 }));
    try {
      const slow = await db.query("SELECT pg_sleep(1)").catch((error: unknown) => error);
      expect(slow).toMatchObject({ code: "57014" }); // the server's cancel, not the client's own limit
      expect(isDatabaseUnavailable(slow)).toBe(true);
      const inTransaction = await db.transaction((tx) => tx.query("SELECT pg_sleep(1)")).catch((error: unknown) => error);
      expect(inTransaction).toMatchObject({ code: "57014" });
      expect((await db.query<{ n: number }>("SELECT $1::int AS n", [7])).rows[0]!.n).toBe(7);
    } finally {
      await db.close();
    }
  });

  it("gives up on a server that stops answering, in a transaction too, and never reuses that connection", async () => {
    const target = new URL(empty.url);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const proxied = new URL(empty.url);
    proxied.hostname = "127.0.0.1";
    proxied.port = String(proxy.port);
    const db = createDatabase(createPool(proxied.toString(), 1, { statementTimeoutMs: 200 }));
    try {
      await db.query("SELECT 1");
      proxy.hang();
      const failed = await db.transaction((tx) => tx.query("SELECT 1")).catch((error: unknown) => error);
      expect(isDatabaseUnavailable(failed)).toBe(true);
      expect(db.pool.totalCount).toBe(0); // dropped, not back in the pool with its statement pending
      proxy.resume();
      expect((await db.query<{ n: number }>("SELECT $1::int AS n", [2])).rows[0]!.n).toBe(2);
    } finally {
      await db.close();
      await proxy.close();
    }
  });

  it("prepares nothing when turned off", async () => {
    const db = createDatabase(createPool(empty.url, 1), { prepareStatements: false });
    try {
      await db.query("SELECT $1::int AS n", [1]);
      await db.query("SELECT $1::int AS n", [2]);
      expect(await preparedHere(db)).toHaveLength(0);
    } finally {
      await db.close();
    }
  });
});
