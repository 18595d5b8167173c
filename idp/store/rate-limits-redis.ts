// The RateLimitStore on Redis (when REDIS_URL is set): each counter is a hash { c: count, r: reset
// time in ms } updated by one Lua script, so increments are atomic across every IdP instance.
import { createClient } from "@redis/client";
import type { Counter, RateLimitStore } from "./rate-limits.ts";

// Expiry is decided by the injected clock (passed in as ARGV[1]), not by Redis's own clock, so the
// store behaves exactly like the PostgreSQL one under test. The key's Redis TTL is set to the same
// remaining time only so that Redis deletes it eventually: it never decides a count.
const HIT = `
local now = tonumber(ARGV[1])
local reset = tonumber(redis.call('HGET', KEYS[1], 'r'))
local count
if reset == nil or reset <= now then
  reset = now + tonumber(ARGV[2])
  count = 1
  redis.call('HSET', KEYS[1], 'c', 1, 'r', reset)
else
  count = redis.call('HINCRBY', KEYS[1], 'c', 1)
end
redis.call('PEXPIRE', KEYS[1], reset - now)
return { count, tostring(reset) }
`;

export type RedisRateLimitOptions = {
  url: string;
  /** Prepended to every key, so several IdPs (or test runs) can share one Redis. */
  prefix: string;
  now?: () => Date;
};

/** Connects to Redis and returns the store; close() disconnects. */
export async function connectRedisRateLimitStore(options: RedisRateLimitOptions): Promise<RateLimitStore> {
  const now = options.now ?? (() => new Date());
  let ready = false;
  const client = createClient({
    url: options.url,
    // Fail a command at once while disconnected rather than queueing it behind a sign-in.
    disableOfflineQueue: true,
    socket: {
      connectTimeout: 5000,
      // Once connected, keep reconnecting; at start, give up after three tries so the IdP stops
      // with a clear error instead of waiting forever.
      reconnectStrategy: (retries, cause) =>
        ready || retries < 2 ? Math.min(100 * 2 ** retries, 2000) : new Error(`cannot connect to Redis (REDIS_URL): ${cause.message}`, { cause }),
    },
  });
  // Without a listener a lost connection would crash the process; commands fail on their own.
  client.on("error", () => {});
  await client.connect();
  ready = true;
  const key = (name: string) => options.prefix + name;

  return {
    async hit(name, windowSeconds) {
      const reply = (await client.eval(HIT, {
        keys: [key(name)],
        arguments: [String(now().getTime()), String(windowSeconds * 1000)],
      })) as [number, string];
      return { count: Number(reply[0]), resetAt: new Date(Number(reply[1])) };
    },

    async get(name): Promise<Counter | undefined> {
      const [count, reset] = await client.hmGet(key(name), ["c", "r"]);
      if (count == null || reset == null || Number(reset) <= now().getTime()) return undefined;
      return { count: Number(count), resetAt: new Date(Number(reset)) };
    },

    async clear(names) {
      if (names.length > 0) await client.del(names.map(key));
    },

    async deleteExpired() {
      return 0;
    },

    async close() {
      if (client.isOpen) await client.close();
    },
  };
}
