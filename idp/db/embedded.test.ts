// The embedded database serves several connections at once (the server's pool, the CLI) without
// mixing their queries or their transactions.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openEmbeddedDatabase } from "./embedded.ts";
import type { Database } from "./database.ts";

let dataDir: string;
let owner: Database & { owner: boolean };
const extraPools: pg.Pool[] = [];

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), "idp-embedded-"));
  owner = await openEmbeddedDatabase(dataDir);
  await owner.query("CREATE TABLE entries (tag text NOT NULL, n int NOT NULL)");
});
afterAll(async () => {
  await Promise.all(extraPools.map((pool) => pool.end()));
  await owner?.close();
  await rm(dataDir, { recursive: true, force: true });
});

function connectAnother(): pg.Pool {
  const pool = new pg.Pool({ host: dataDir, port: 5432, user: "postgres", database: "postgres", max: 2 });
  extraPools.push(pool);
  return pool;
}

it("lets a second process connect through the owner's socket instead of opening the data directory", async () => {
  const second = await openEmbeddedDatabase(dataDir);
  try {
    expect(owner.owner).toBe(true);
    expect(second.owner).toBe(false);
    expect((await second.query("SELECT count(*)::int AS n FROM entries")).rows[0]).toEqual({ n: 0 });
  } finally {
    await second.close();
  }
});

it("keeps concurrent queries and transactions of several connections apart", async () => {
  const pools = [owner.pool, connectAnother(), connectAnother(), connectAnother()];
  const failures: string[] = [];
  const work = async (pool: pg.Pool, tag: string) => {
    for (let i = 0; i < 60; i++) {
      if (i % 3 === 0) {
        const client = await pool.connect();
        try {
          await client.query("BEGIN");
          await client.query("INSERT INTO entries VALUES ($1, $2)", [tag, i]);
          const seen = await client.query("SELECT count(*)::int AS n FROM entries WHERE tag = $1 AND n = $2", [tag, i]);
          if (seen.rows[0].n !== 1) failures.push(`${tag}${i}: own insert not visible`);
          await client.query(i % 2 === 1 ? "COMMIT" : "ROLLBACK");
        } catch (error) {
          failures.push(`${tag}${i}: ${(error as Error).message}`);
        } finally {
          client.release();
        }
      } else {
        try {
          const { rows } = await pool.query(`SELECT $1::text AS value, '${tag}' AS tag, $2::int AS i`, [`${tag}-${i}`, i]);
          if (rows[0].value !== `${tag}-${i}` || rows[0].tag !== tag || rows[0].i !== i) failures.push(`${tag}${i}: got ${JSON.stringify(rows[0])}`);
        } catch (error) {
          failures.push(`${tag}${i}: ${(error as Error).message}`);
        }
      }
    }
  };
  await Promise.all(pools.map((pool, index) => work(pool, `p${index}`)));
  expect(failures).toEqual([]);
  const { rows } = await owner.query("SELECT tag, count(*)::int AS n FROM entries GROUP BY tag ORDER BY tag");
  // Of i = 0, 3, ..., 57, the odd ones committed: 3, 9, ..., 57.
  expect(rows).toEqual(["p0", "p1", "p2", "p3"].map((tag) => ({ tag, n: 10 })));
});

it("rolls back the transaction of a connection that dies inside it", async () => {
  const client = new pg.Client({ host: dataDir, port: 5432, user: "postgres", database: "postgres" });
  await client.connect();
  client.on("error", () => {});
  await client.query("BEGIN");
  await client.query("INSERT INTO entries VALUES ('ghost', 1)");
  (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
  const { rows } = await owner.query("SELECT count(*)::int AS n FROM entries WHERE tag = 'ghost'");
  expect(rows[0]).toEqual({ n: 0 });
  await owner.query("INSERT INTO entries VALUES ('after', 1)"); // the session is free again
});
