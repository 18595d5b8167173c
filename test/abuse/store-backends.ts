// The two RateLimitStore backends for the tests that run against both: PostgreSQL (a fresh
// database) and the real Redis (a fresh key prefix), each opened as two stores over the same
// counters, as two IdP instances would have them.
import { randomBytes } from "node:crypto";
import { createClient } from "@redis/client";
import { createDatabase, createPool, type Database } from "../../idp/db/database.ts";
import { createPostgresRateLimitStore, type RateLimitStore } from "../../idp/store/rate-limits.ts";
import { connectRedisRateLimitStore } from "../../idp/store/rate-limits-redis.ts";
import { createPostgresTestDatabase, type TestDatabase } from "../support/database.ts";
import { redisUrl } from "./helpers.ts";

export type StoreBackend = {
  /** Two stores over the same backend, as two IdP instances would have. */
  stores: [RateLimitStore, RateLimitStore];
  /** How many of these keys the backend still physically holds (expired or not). */
  stored(keys: string[]): Promise<number>;
  /** The PostgreSQL database behind the stores, if that is the backend. */
  database?: TestDatabase;
  close(): Promise<void>;
};

export const storeBackends: { name: string; open(now: () => Date): Promise<StoreBackend> }[] = [
  {
    name: "PostgreSQL",
    async open(now) {
      const database: TestDatabase = await createPostgresTestDatabase();
      const second: Database = createDatabase(createPool(database.url!, 5));
      return {
        stores: [createPostgresRateLimitStore(database.db, now), createPostgresRateLimitStore(second, now)],
        database,
        async stored(keys) {
          const { rows } = await database.db.query<{ n: number }>("SELECT count(*)::int AS n FROM rate_limits WHERE key = ANY($1)", [keys]);
          return rows[0]!.n;
        },
        async close() {
          await second.close();
          await database.destroy();
        },
      };
    },
  },
  {
    name: "Redis",
    async open(now) {
      const prefix = `idp-test:${randomBytes(6).toString("hex")}:`;
      const stores: [RateLimitStore, RateLimitStore] = [
        await connectRedisRateLimitStore({ url: redisUrl, prefix, now }),
        await connectRedisRateLimitStore({ url: redisUrl, prefix, now }),
      ];
      const raw = createClient({ url: redisUrl });
      await raw.connect();
      return {
        stores,
        async stored(keys) {
          return keys.length === 0 ? 0 : raw.exists(keys.map((key) => prefix + key));
        },
        async close() {
          for await (const batch of raw.scanIterator({ MATCH: `${prefix}*`, COUNT: 100 })) if (batch.length) await raw.del(batch);
          await raw.close();
          await Promise.all(stores.map((store) => store.close()));
        },
      };
    },
  },
];
