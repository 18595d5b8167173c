// A thin wrapper over a pg Pool: parameterised queries and transactions, nothing else.
import { createHash } from "node:crypto";
import pg from "pg";
import { isDatabaseUnavailable } from "./availability.ts";

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
  // The pool's connections, until their server has acknowledged the goodbye (see close()).
  const connections = new Set<pg.PoolClient>();
  pool.on("connect", (client) => connections.add(client));
  pool.on("remove", (client) => connections.delete(client));
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
          // A connection that timed out or broke is dropped (withClient), which ends the
          // transaction on the server: no ROLLBACK to wait for in vain.
          if (!isDatabaseUnavailable(error)) await client.query("ROLLBACK").catch(() => {});
          throw error;
        }
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
      // A server that stopped answering never acknowledges the goodbye, and its connection would
      // keep the process alive: what is still open after a moment is dropped.
      await acknowledged(pool, connections, GOODBYE_MS);
      for (const client of connections) (client as unknown as pg.Client).connection.stream.destroy();
      await onClose();
    },
  };
}

/** How long close() waits for the servers to acknowledge the goodbye of the pool's connections. */
const GOODBYE_MS = 1000;

/** Resolves once every connection has closed, or after timeoutMs. */
function acknowledged(pool: pg.Pool, connections: Set<pg.PoolClient>, timeoutMs: number): Promise<void> {
  if (connections.size === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pool.off("remove", check);
      resolve();
    };
    const check = () => connections.size === 0 && done();
    const timer = setTimeout(done, timeoutMs);
    pool.on("remove", check);
  });
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
  } catch (error) {
    // A statement that timed out may still be running on this connection, and a server that
    // stopped answering never will: the connection is not reused.
    if (isDatabaseUnavailable(error)) broken ??= error as Error;
    throw error;
  } finally {
    client.off("error", onError);
    client.release(broken);
  }
}

/**
 * Runs fn on a connection of its own, outside the pool, with no statement timeout and no limit on
 * the wait for answers: for migrations, which may rightly run long or wait for another instance's
 * lock. Connecting is still bounded; the connection is closed afterwards, so its settings go with it.
 */
export async function withUnboundedConnection<T>(pool: pg.Pool, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const { statement_timeout: _statement, query_timeout: _query, ...options } = pool.options;
  const client = new pg.Client(options);
  // A connection that breaks fails its queries; unheard, the event would crash the process.
  client.on("error", () => {});
  await client.connect();
  try {
    await client.query("SET statement_timeout = 0"); // nor one set on the role or the database
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** How much longer than the statement timeout the IdP waits for an answer before it gives up on the server. */
const ANSWER_GRACE_MS = 1000;

/**
 * The longest the IdP waits for PostgreSQL to answer one statement: PostgreSQL cancels a statement
 * itself after statementTimeoutMs (SQLSTATE 57014); a server that answers nothing at all is given up
 * on a second later. 0: no limit.
 */
export function databaseAnswerTimeoutMs(statementTimeoutMs: number): number {
  return statementTimeoutMs > 0 ? statementTimeoutMs + ANSWER_GRACE_MS : 0;
}

/** The longest wait for a connection (a free one from the pool, or a new one from the server), at most. */
const CONNECTION_TIMEOUT_MS = 5000;

/** The wait for a connection: no longer than for an answer, and at most CONNECTION_TIMEOUT_MS. */
function connectionTimeoutMs(statementTimeoutMs: number): number {
  const answer = databaseAnswerTimeoutMs(statementTimeoutMs);
  return answer > 0 ? Math.min(answer, CONNECTION_TIMEOUT_MS) : CONNECTION_TIMEOUT_MS;
}

/** The longest one db.query() waits, for a connection and then for the answer (0: no limit). */
export function databaseQueryTimeoutMs(statementTimeoutMs: number): number {
  return statementTimeoutMs > 0 ? connectionTimeoutMs(statementTimeoutMs) + databaseAnswerTimeoutMs(statementTimeoutMs) : 0;
}

export type PoolBounds = {
  /** DATABASE_STATEMENT_TIMEOUT_MS: sent as each connection's statement_timeout; 0 or unset: none. */
  statementTimeoutMs?: number;
};

export function createPool(connectionString: string, max: number, bounds: PoolBounds = {}): pg.Pool {
  const statementTimeoutMs = bounds.statementTimeoutMs ?? 0;
  return new pg.Pool({
    connectionString,
    max,
    // Also bounds the wait for a free connection when all are in use.
    connectionTimeoutMillis: connectionTimeoutMs(statementTimeoutMs),
    idleTimeoutMillis: 30000,
    ...(statementTimeoutMs > 0 ? { statement_timeout: statementTimeoutMs, query_timeout: databaseAnswerTimeoutMs(statementTimeoutMs) } : {}),
  });
}
