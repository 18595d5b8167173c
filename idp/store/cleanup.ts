// The periodic deletion of what has expired (OIDC state, rate-limit counters, audit events past
// AUDIT_RETENTION_DAYS), on a timer that starts with the app and stops when it closes.
import type { FastifyInstance } from "fastify";
import type { Config } from "../config.ts";

export type Cleanup = { what: string; run: () => Promise<number> };

export function scheduleCleanups(app: FastifyInstance, config: Pick<Config, "payloadCleanupIntervalSeconds">, cleanups: Cleanup[]): void {
  const intervalSeconds = config.payloadCleanupIntervalSeconds;
  if (intervalSeconds <= 0) return;
  let timer: NodeJS.Timeout | undefined;
  app.addHook("onReady", async () => {
    timer = setInterval(() => {
      for (const { what, run } of cleanups) {
        run().then(
          (deleted) => deleted > 0 && app.log.info({ deleted }, `removed ${what}`),
          (error: unknown) => app.log.warn({ err: error }, `cleanup of ${what} failed`),
        );
      }
    }, intervalSeconds * 1000);
    timer.unref();
  });
  app.addHook("onClose", async () => clearInterval(timer));
}
