// The RateLimitStore interface (fixed-window counters shared by every IdP instance) and its
// PostgreSQL implementation over the rate_limits table; rate-limits-redis.ts is the other one.
import type { Queryable } from "../db/database.ts";

/** A counter's value and the end of its window. */
export type Counter = { count: number; resetAt: Date };

/**
 * Counters that expire. Rate limits and sign-in lockouts are built on these four operations and
 * nothing else, so any backend that passes test/abuse/rate-limit-store.test.ts can hold them.
 * Time comes from the store's injected clock, never from the backend's.
 */
export interface RateLimitStore {
  /**
   * Adds one to the counter at `key` and returns it. A missing or expired counter starts again at 1
   * and expires `windowSeconds` after this hit (a fixed window from the first hit; later hits never
   * move it). Atomic: concurrent hits, from any number of instances, each see a different count.
   */
  hit(key: string, windowSeconds: number): Promise<Counter>;
  /** The counter at `key` if it exists and has not expired. */
  get(key: string): Promise<Counter | undefined>;
  /** Deletes the counters at `keys` (in one atomic step). */
  clear(keys: string[]): Promise<void>;
  /** Deletes expired counters; returns how many. (Redis expires keys itself and returns 0.) */
  deleteExpired(): Promise<number>;
  /** Releases what the store opened itself (the Redis connection); a shared pool is left open. */
  close(): Promise<void>;
}

type CounterRow = { count: number; expires_at: Date };

const toCounter = (row: CounterRow): Counter => ({ count: row.count, resetAt: row.expires_at });

export function createPostgresRateLimitStore(db: Queryable, now: () => Date = () => new Date()): RateLimitStore {
  return {
    async hit(key, windowSeconds) {
      const at = now();
      const resetAt = new Date(at.getTime() + windowSeconds * 1000);
      // One statement: the row lock taken by ON CONFLICT makes concurrent increments serialise.
      const { rows } = await db.query<CounterRow>(
        `INSERT INTO rate_limits AS r (key, count, expires_at) VALUES ($1, 1, $3)
         ON CONFLICT (key) DO UPDATE SET
           count = CASE WHEN r.expires_at <= $2 THEN 1 ELSE r.count + 1 END,
           expires_at = CASE WHEN r.expires_at <= $2 THEN $3 ELSE r.expires_at END
         RETURNING count, expires_at`,
        [key, at, resetAt],
      );
      return toCounter(rows[0]!);
    },

    async get(key) {
      const { rows } = await db.query<CounterRow>("SELECT count, expires_at FROM rate_limits WHERE key = $1 AND expires_at > $2", [
        key,
        now(),
      ]);
      return rows[0] && toCounter(rows[0]);
    },

    async clear(keys) {
      if (keys.length === 0) return;
      await db.query("DELETE FROM rate_limits WHERE key = ANY($1::text[])", [keys]);
    },

    async deleteExpired() {
      const { rowCount } = await db.query("DELETE FROM rate_limits WHERE expires_at <= $1", [now()]);
      return rowCount ?? 0;
    },

    async close() {},
  };
}
