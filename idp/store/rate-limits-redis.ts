// The RateLimitStore on Redis (when REDIS_URL is set): each counter is a hash { c: count, r: reset
// time in ms } updated by one Lua script, so increments are atomic across every IdP instance.
import { createClient } from "@redis/client";
import { BackendUnavailableError } from "../db/availability.ts";
import { countersInOrder, mergeAdds, type Counter, type CounterAdd, type RateLimitStore } from "./rate-limits.ts";

// Expiry is decided by the injected clock (passed in as ARGV[1]), not by Redis's own clock, so the
// store behaves exactly like the PostgreSQL one under test. The key's Redis TTL is set to the same
// remaining time only so that Redis deletes it eventually: it never decides a count.
// ARGV[2i], ARGV[2i+1]: the amount for KEYS[i] and the window end it gets if it (re)starts; an
// amount of 0 only reads. Returns count and window end (ms, as a string) for each key in turn.
const ADD = `
local now = tonumber(ARGV[1])
local result = {}
for i, key in ipairs(KEYS) do
  local amount = tonumber(ARGV[2 * i])
  local reset = tonumber(redis.call('HGET', key, 'r'))
  local count
  if reset == nil or reset <= now then
    reset = tonumber(ARGV[2 * i + 1])
    count = amount
    if amount > 0 then redis.call('HSET', key, 'c', count, 'r', reset) end
  elseif amount > 0 then
    count = redis.call('HINCRBY', key, 'c', amount)
  else
    count = tonumber(redis.call('HGET', key, 'c'))
  end
  if amount > 0 then redis.call('PEXPIRE', key, math.max(1, reset - now)) end
  result[2 * i - 1] = count
  result[2 * i] = tostring(reset)
end
return result
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

  /**
   * Runs a command; a failure while the connection is down (the command was refused offline, or
   * its socket closed under it) becomes a BackendUnavailableError, which requests answer with 503
   * and Retry-After like a database outage. The client keeps reconnecting meanwhile.
   */
  async function command<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (!client.isReady) throw new BackendUnavailableError("Redis (REDIS_URL) is unreachable", { cause: error });
      throw error;
    }
  }

  async function add(hits: CounterAdd[]): Promise<Counter[]> {
    if (hits.length === 0) return [];
    const at = now();
    const merged = mergeAdds(hits, at);
    const reply = (await command(() =>
      client.eval(ADD, {
        keys: merged.map((hit) => key(hit.key)),
        arguments: [String(at.getTime()), ...merged.flatMap((hit) => [String(hit.amount), String(hit.restartResetAt.getTime())])],
      }),
    )) as (number | string)[];
    const finals = new Map(merged.map((hit, index) => [hit.key, { count: Number(reply[2 * index]), resetAt: new Date(Number(reply[2 * index + 1])) }]));
    return countersInOrder(hits, finals);
  }

  return {
    async hit(name, windowSeconds) {
      return (await add([{ key: name, amount: 1, windowSeconds }]))[0]!;
    },

    add,

    async get(name): Promise<Counter | undefined> {
      const [count, reset] = await command(() => client.hmGet(key(name), ["c", "r"]));
      if (count == null || reset == null || Number(reset) <= now().getTime()) return undefined;
      return { count: Number(count), resetAt: new Date(Number(reset)) };
    },

    async clear(names) {
      if (names.length > 0) await command(() => client.del(names.map(key)));
    },

    async deleteExpired() {
      return 0;
    },

    async close() {
      if (client.isOpen) await client.close();
    },
  };
}
