// The RateLimitStore on Redis (when REDIS_URL is set): each counter is a hash { c: count, r: reset
// time in ms } updated by one Lua script, so increments are atomic across every IdP instance.
import { openRedisConnection } from "./redis-connection.ts";
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

/** The default of REDIS_COMMAND_TIMEOUT_MS (config.ts), for callers that do not pass one. */
const DEFAULT_COMMAND_TIMEOUT_MS = 2000;

export type RedisRateLimitOptions = {
  url: string;
  /** Prepended to every key, so several IdPs (or test runs) can share one Redis. */
  prefix: string;
  now?: () => Date;
  /** REDIS_COMMAND_TIMEOUT_MS: the longest wait for Redis to answer, ms (0: no limit). */
  commandTimeoutMs?: number;
};

/** Connects to Redis and returns the store; close() disconnects. */
export async function connectRedisRateLimitStore(options: RedisRateLimitOptions): Promise<RateLimitStore> {
  const now = options.now ?? (() => new Date());
  // Every command bounded; a failure to reach Redis is a BackendUnavailableError (503 with Retry-After).
  const connection = await openRedisConnection({ url: options.url, timeoutMs: options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS });
  const command = connection.run;
  const key = (name: string) => options.prefix + name;

  async function add(hits: CounterAdd[]): Promise<Counter[]> {
    if (hits.length === 0) return [];
    const at = now();
    const merged = mergeAdds(hits, at);
    const reply = (await command((client) =>
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
      const [count, reset] = await command((client) => client.hmGet(key(name), ["c", "r"]));
      if (count == null || reset == null || Number(reset) <= now().getTime()) return undefined;
      return { count: Number(count), resetAt: new Date(Number(reset)) };
    },

    async clear(names) {
      if (names.length > 0) await command((client) => client.del(names.map(key)));
    },

    async deleteExpired() {
      return 0;
    },

    close: connection.close,
  };
}
