// One connection to Redis that never leaves a caller waiting: every command is bounded by
// REDIS_COMMAND_TIMEOUT_MS, and a connection that breaks or stops answering is dropped and a new
// one opened for the commands after it. node-redis's own reconnection is off: it keeps a connection
// that the network lost without a word (its commands would wait for ever), and its command timeout
// only covers commands not yet written. A failure to reach Redis is a BackendUnavailableError,
// answered 503 with Retry-After.
import { createClient, ErrorReply } from "@redis/client";
import { BackendUnavailableError } from "../db/availability.ts";
import { boundedWait } from "../db/bounded-wait.ts";

const TRANSIENT_REPLY = /^(LOADING|READONLY|BUSY|MASTERDOWN|TRYAGAIN)\b/;

export type RedisClient = ReturnType<typeof newClient>;

export type RedisConnection = {
  /** Runs one command on the current connection, waiting at most the timeout for it. */
  run<T>(command: (client: RedisClient) => Promise<T>): Promise<T>;
  /** Waits (within the timeout) for commands under way, then disconnects. */
  close(): Promise<void>;
};

export type RedisConnectionOptions = {
  url: string;
  /** The longest wait for a connection to be ready or a command to be answered, ms; 0: no limit. */
  timeoutMs: number;
};

const WHAT = "Redis (REDIS_URL)";
/** Tries at start before the IdP gives up with an error. */
const START_TRIES = 3;
const RETRY_MAX_MS = 2000;
const retryDelayMs = (failures: number) => Math.min(100 * 2 ** failures, RETRY_MAX_MS);

function newClient({ url, timeoutMs }: RedisConnectionOptions) {
  return createClient({
    url,
    // Fail a command at once while disconnected rather than queueing it behind a sign-in.
    disableOfflineQueue: true,
    commandOptions: { timeout: timeoutMs },
    socket: { connectTimeout: timeoutMs > 0 ? timeoutMs : 5000, reconnectStrategy: false },
  });
}

async function connect(options: RedisConnectionOptions): Promise<RedisClient> {
  const client = newClient(options);
  // Without a listener a lost connection would crash the process; commands fail on their own.
  client.on("error", () => {});
  try {
    // Connecting includes a handshake that a hung server never answers.
    await boundedWait(WHAT, options.timeoutMs, () => client.connect());
    return client;
  } catch (error) {
    client.destroy();
    throw error;
  }
}

/** Connects, with a few tries: at start, a Redis that cannot be reached stops the IdP with a clear error. */
export async function openRedisConnection(options: RedisConnectionOptions): Promise<RedisConnection> {
  let client: RedisClient | undefined;
  for (let tries = 1; !client; tries++) {
    try {
      client = await connect(options);
    } catch (error) {
      if (tries >= START_TRIES) throw new Error(`cannot connect to Redis (REDIS_URL): ${(error as Error).message}`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, retryDelayMs(tries)));
    }
  }

  let connecting: Promise<void> | undefined;
  let failures = 0;
  // Monotonic time, not the injected clock: a transport's retry pace, which tests never drive.
  let retryAt = 0;
  let closed = false;

  /** Opens a new connection in the background, unless one is on its way or the last try failed just now. */
  function reconnect() {
    if (connecting || closed || performance.now() < retryAt) return;
    connecting = connect(options)
      .then(
        (fresh) => {
          if (closed) fresh.destroy();
          else client = fresh;
          failures = 0;
        },
        () => {
          failures++;
          retryAt = performance.now() + retryDelayMs(failures);
        },
      )
      .finally(() => {
        connecting = undefined;
      });
  }

  /** Gives a connection up: its commands fail at once, and the next command opens a new one. */
  function drop(broken: RedisClient) {
    broken.destroy();
    if (client === broken) client = undefined;
  }

  return {
    async run(command) {
      const current = client;
      if (!current?.isReady) {
        if (current) drop(current);
        reconnect();
        throw new BackendUnavailableError(`${WHAT} is unreachable`);
      }
      try {
        return await boundedWait(WHAT, options.timeoutMs, () => command(current));
      } catch (error) {
        // An error Redis answered with says nothing against the connection; the transient ones
        // (loading its data after a restart, a read-only replica, busy, failing over) are an outage.
        if (error instanceof ErrorReply) {
          if (TRANSIENT_REPLY.test(error.message)) throw new BackendUnavailableError(`${WHAT} answered ${error.message.split(" ")[0]}`, { cause: error });
          throw error;
        }
        // Timed out (the answer may still come, out of turn) or broken: never reused.
        drop(current);
        reconnect();
        if (error instanceof BackendUnavailableError) throw error;
        throw new BackendUnavailableError(`${WHAT} is unreachable`, { cause: error });
      }
    },

    async close() {
      closed = true;
      await connecting;
      const last = client;
      client = undefined;
      if (!last) return;
      if (last.isOpen) await boundedWait(WHAT, options.timeoutMs, () => last.close()).catch(() => {});
      last.destroy();
    },
  };
}
