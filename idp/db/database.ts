// A thin wrapper over a pg Pool: parameterised queries and transactions, nothing else.
import { createHash } from "node:crypto";
import pg from "pg";

/** What the store needs of a pool or of a connection inside a transaction. */
export type Queryable = {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
};

export type Database = {
  readonly pool: pg.Pool;
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
  /** Runs fn inside BEGIN/COMMIT on one connection; any error rolls everything back. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
};

export type DatabaseOptions = {
  /** Runs once the pool has ended. */
  onClose?: () => Promise<void>;
  /**
   * Parameterised statements are prepared once per connection and reused (see preparedStatements).
   * Off for the embedded database: its connections share one PGlite session, where two
   * connections preparing the same statement name would collide.
   */
  prepareStatements?: boolean;
};

export function createDatabase(pool: pg.Pool, options: DatabaseOptions = {}): Database {
  const { onClose = async () => {}, prepareStatements = true } = options;
  // An idle connection dying (the server restarted) must not crash the process.
  pool.on("error", () => {});
  const prepared = prepareStatements ? preparedStatements() : (sql: string, params?: unknown[]) => ({ text: sql, values: params });
  let closed = false;
  return {
    pool,
    query: (sql, params) => pool.query(prepared(sql, params)),
    async transaction(fn) {
      return withClient(pool, async (client) => {
        const tx: Queryable = { query: (sql, params) => client.query(prepared(sql, params)) };
        try {
          await client.query("BEGIN");
          const result = await fn(tx);
          await client.query("COMMIT");
          return result;
        } catch (error) {
          await client.query("ROLLBACK").catch(() => {});
          throw error;
        }
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
      await onClose();
    },
  };
}

/** More distinct statements than the stores have; past it, statements are sent unnamed. */
const MAX_PREPARED = 1000;

/**
 * A parameterised statement as a named one: PostgreSQL parses it once per connection and, after a
 * few runs, reuses its plan, where an unnamed statement is parsed and planned on every run (for a
 * refresh, that was half of PostgreSQL's CPU time). A statement without parameters (BEGIN, a
 * migration file of several statements) stays unnamed, as the simple protocol requires. Prepared
 * statements fail with "cached plan must not change result type" when a migration changes the
 * columns they return, which is why the stores name their columns instead of using *.
 */
function preparedStatements(): (sql: string, params?: unknown[]) => pg.QueryConfig {
  const names = new Map<string, string>();
  return (sql, params) => {
    if (params === undefined) return { text: sql };
    let name = names.get(sql);
    if (!name && names.size < MAX_PREPARED) {
      name = `idp_${createHash("sha256").update(sql).digest("hex").slice(0, 24)}`;
      names.set(sql, name);
    }
    return name ? { name, text: sql, values: params } : { text: sql, values: params };
  };
}

/**
 * Runs fn with a connection of its own. A connection that breaks while checked out emits "error"
 * between queries, which pg's pool does not listen for then: unheard, it would crash the process.
 * It is listened for here, and the broken connection is discarded instead of returned to the pool.
 */
export async function withClient<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (error: Error) => {
    broken = error;
  };
  client.on("error", onError);
  try {
    return await fn(client);
  } finally {
    client.off("error", onError);
    client.release(broken);
  }
}

export function createPool(connectionString: string, max: number): pg.Pool {
  return new pg.Pool({ connectionString, max, connectionTimeoutMillis: 5000, idleTimeoutMillis: 30000 });
}
