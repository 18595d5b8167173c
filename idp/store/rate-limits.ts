// The RateLimitStore interface (fixed-window counters shared by every IdP instance) and its
// PostgreSQL implementation over the rate_limits table; rate-limits-redis.ts is the other one.
import type { Queryable } from "../db/database.ts";

/** A counter's value and the end of its window. */
export type Counter = { count: number; resetAt: Date };

/** An amount to add to one counter, and the window the counter gets if it (re)starts. */
export type CounterAdd = {
  key: string;
  /** A whole number, 0 or more; 0 reads the counter without writing anything. */
  amount: number;
  windowSeconds: number;
  /**
   * When the window of a counter that (re)starts begins: the time of the first of the hits being
   * added, for a caller that counted them before sending. Default: now.
   */
  startedAt?: Date;
};

/**
 * Counters that expire. Rate limits and sign-in lockouts are built on these operations and
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
  /**
   * hit() for several counters and any amounts, in one round trip and one atomic step: a missing or
   * expired counter starts again at its amount, with a window of `windowSeconds` from `startedAt`
   * (default now). Returns the counters in input order; a key given twice counts both amounts, and
   * each entry gets the counter as it stood right after its own amount (the window is the first
   * entry's). An amount of 0 writes nothing: it returns the live counter, or 0 with the window a
   * restart would get.
   */
  add(hits: CounterAdd[]): Promise<Counter[]>;
  /** The counter at `key` if it exists and has not expired. */
  get(key: string): Promise<Counter | undefined>;
  /** Deletes the counters at `keys` (in one atomic step). */
  clear(keys: string[]): Promise<void>;
  /** Deletes expired counters; returns how many. (Redis expires keys itself and returns 0.) */
  deleteExpired(): Promise<number>;
  /** Releases what the store opened itself (the Redis connection); a shared pool is left open. */
  close(): Promise<void>;
}

/** One key's share of an add(): its amounts summed, and the window end of a restart (from its first entry). */
export type MergedAdd = { key: string; amount: number; restartResetAt: Date };

/**
 * Duplicate keys merged, in order of first appearance: PostgreSQL's ON CONFLICT cannot update a
 * row twice in one statement, and both backends then treat add() the same way.
 */
export function mergeAdds(hits: CounterAdd[], at: Date): MergedAdd[] {
  const merged = new Map<string, MergedAdd>();
  for (const hit of hits) {
    if (!Number.isSafeInteger(hit.amount) || hit.amount < 0) throw new RangeError(`counter amount must be a whole number >= 0, got ${hit.amount}`);
    const known = merged.get(hit.key);
    if (known) known.amount += hit.amount;
    else merged.set(hit.key, { key: hit.key, amount: hit.amount, restartResetAt: new Date((hit.startedAt ?? at).getTime() + hit.windowSeconds * 1000) });
  }
  return [...merged.values()];
}

/** The counter each entry of an add() saw, in input order, from each key's final counter. */
export function countersInOrder(hits: CounterAdd[], finals: Map<string, Counter>): Counter[] {
  // Walking backwards, each entry's count is the final one less the amounts of later entries for its key.
  const later = new Map<string, number>();
  const result: Counter[] = new Array(hits.length);
  for (let index = hits.length - 1; index >= 0; index--) {
    const { key, amount } = hits[index]!;
    const final = finals.get(key)!;
    const after = later.get(key) ?? 0;
    result[index] = { count: final.count - after, resetAt: final.resetAt };
    later.set(key, after + amount);
  }
  return result;
}

type CounterRow = { key: string; count: number; expires_at: Date };

export function createPostgresRateLimitStore(db: Queryable, now: () => Date = () => new Date()): RateLimitStore {
  async function add(hits: CounterAdd[]): Promise<Counter[]> {
    if (hits.length === 0) return [];
    const at = now();
    const merged = mergeAdds(hits, at);
    // One statement: the row locks taken by ON CONFLICT make concurrent increments serialise, and
    // ORDER BY key takes them in one order everywhere. Amounts of 0 only read (no row is written).
    const { rows } = await db.query<CounterRow>(
      `WITH h AS (
         SELECT * FROM unnest($2::text[], $3::int[], $4::timestamptz[]) AS u(key, amount, restart_expires_at)
       ), written AS (
         INSERT INTO rate_limits AS r (key, count, expires_at)
         SELECT key, amount, restart_expires_at FROM h WHERE amount > 0 ORDER BY key
         ON CONFLICT (key) DO UPDATE SET
           count = CASE WHEN r.expires_at <= $1 THEN excluded.count ELSE r.count + excluded.count END,
           expires_at = CASE WHEN r.expires_at <= $1 THEN excluded.expires_at ELSE r.expires_at END
         RETURNING key, count, expires_at
       )
       SELECT key, count, expires_at FROM written
       UNION ALL
       SELECT h.key,
              CASE WHEN r.expires_at > $1 THEN r.count ELSE 0 END,
              CASE WHEN r.expires_at > $1 THEN r.expires_at ELSE h.restart_expires_at END
       FROM h LEFT JOIN rate_limits r ON r.key = h.key
       WHERE h.amount = 0`,
      [at, merged.map((hit) => hit.key), merged.map((hit) => hit.amount), merged.map((hit) => hit.restartResetAt.toISOString())],
    );
    return countersInOrder(hits, new Map(rows.map((row) => [row.key, { count: row.count, resetAt: row.expires_at }])));
  }

  return {
    async hit(key, windowSeconds) {
      return (await add([{ key, amount: 1, windowSeconds }]))[0]!;
    },

    add,

    async get(key) {
      const { rows } = await db.query<CounterRow>("SELECT key, count, expires_at FROM rate_limits WHERE key = $1 AND expires_at > $2", [
        key,
        now(),
      ]);
      return rows[0] && { count: rows[0].count, resetAt: rows[0].expires_at };
    },

    // Both lock their rows in key order, as add() does, so none of them can deadlock another.
    async clear(keys) {
      if (keys.length === 0) return;
      await db.query(
        "DELETE FROM rate_limits WHERE key IN (SELECT key FROM rate_limits WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE)",
        [keys],
      );
    },

    async deleteExpired() {
      // Rows being counted right now are skipped: the next cleanup gets them if they are still expired.
      const { rowCount } = await db.query(
        "DELETE FROM rate_limits WHERE key IN (SELECT key FROM rate_limits WHERE expires_at <= $1 ORDER BY key FOR UPDATE SKIP LOCKED)",
        [now()],
      );
      return rowCount ?? 0;
    },

    async close() {},
  };
}
