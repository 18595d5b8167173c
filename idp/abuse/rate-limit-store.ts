// Chooses where rate-limit and lockout counters live: Redis at REDIS_URL, else the IdP's database.
import type { Config } from "../config.ts";
import { databaseQueryTimeoutMs, type Queryable } from "../db/database.ts";
import { createPostgresRateLimitStore, type RateLimitStore } from "../store/rate-limits.ts";

/**
 * Keys are prefixed with the issuer: the instances of one IdP (one ISSUER) share their counters,
 * and two IdPs pointed at the same Redis never see each other's.
 */
export function redisKeyPrefix(issuer: string): string {
  return `idp:${issuer}:`;
}

export async function openRateLimitStore(
  config: Pick<Config, "redisUrl" | "redisCommandTimeoutMs" | "issuer">,
  db: Queryable,
  now: () => Date = () => new Date(),
): Promise<RateLimitStore> {
  if (config.redisUrl) {
    // Loaded only when configured: the Redis client adds ~25 MB to the resident memory of every process.
    const { connectRedisRateLimitStore } = await import("../store/rate-limits-redis.ts");
    return connectRedisRateLimitStore({ url: config.redisUrl, prefix: redisKeyPrefix(config.issuer), now, commandTimeoutMs: config.redisCommandTimeoutMs });
  }
  return createPostgresRateLimitStore(db, now);
}

/** The longest one call of the store configured waits before it fails, ms (0: no limit). */
export function rateLimitStoreTimeoutMs(config: Pick<Config, "redisUrl" | "redisCommandTimeoutMs" | "databaseStatementTimeoutMs">): number {
  return config.redisUrl ? config.redisCommandTimeoutMs : databaseQueryTimeoutMs(config.databaseStatementTimeoutMs);
}
