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
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        const result = await fn(client);
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
      await onClose();
    },
  };
}

export function createPool(connectionString: string, max: number): pg.Pool {
  return new pg.Pool({ connectionString, max, connectionTimeoutMillis: 5000, idleTimeoutMillis: 30000 });
}
