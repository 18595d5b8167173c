// A thin wrapper over a pg Pool: parameterised queries and transactions, nothing else.
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

export function createDatabase(pool: pg.Pool, onClose: () => Promise<void> = async () => {}): Database {
  // An idle connection dying (the server restarted) must not crash the process.
  pool.on("error", () => {});
  let closed = false;
  return {
    pool,
    query: (sql, params) => pool.query(sql, params),
    async transaction(fn) {
      return withClient(pool, async (client) => {
        try {
          await client.query("BEGIN");
          const result = await fn(client);
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
