// Liveness (the process answers) and readiness (it can also reach its database; keys load at start).
import type { FastifyInstance } from "fastify";
import type { Queryable } from "../db/database.ts";
import { isDatabaseUnavailable, UNAVAILABLE_RETRY_AFTER_SECONDS } from "../db/availability.ts";
import { SOURCE_LOCALE, translate } from "../pages/i18n.ts";

/** The probes' and the scraper's paths: never rate-limited, answered for any well-formed host. */
export const PROBE_PATHS: ReadonlySet<string> = new Set(["/healthz", "/readyz", "/metrics"]);

export function healthRoutes(app: FastifyInstance, db: Queryable): void {
  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_request, reply) => {
    try {
      await db.query("SELECT 1");
      return { status: "ready" };
    } catch (error) {
      if (!isDatabaseUnavailable(error)) throw error;
      return reply.code(503).header("Retry-After", UNAVAILABLE_RETRY_AFTER_SECONDS).send({ status: "unavailable", error_description: translate(SOURCE_LOCALE, "error.unavailable.message") });
    }
  });
}
