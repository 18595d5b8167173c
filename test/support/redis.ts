// The Redis the tests use (TEST_REDIS_URL, else 127.0.0.1:6379), and skipping the cases that need it
// where there is none: the global setup sets IDP_TEST_REDIS_MISSING after finding nothing there and says so once.
import { describe, type TestContext } from "vitest";

export const redisUrl = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

/** False where the tests have no Redis: its cases are skipped and reported as skipped. */
export const hasRedis = !process.env.IDP_TEST_REDIS_MISSING;

const REASON = "no Redis: TEST_REDIS_URL is unset and nothing answers on 127.0.0.1:6379";

/** describe() for each case, the ones on Redis (`name: "Redis"`) skipped where there is none; "$name" in the title is the case's name. */
export function describeEach<T extends { name: string }>(cases: readonly T[], title: string, body: (each: T) => void): void {
  for (const each of cases) describe.skipIf(each.name === "Redis" && !hasRedis)(title.replace("$name", each.name), () => body(each));
}

/** Inside a test: skip it (reported as skipped) where there is no Redis. */
export function needsRedis(context: Pick<TestContext, "skip">): void {
  if (!hasRedis) context.skip(REASON);
}
