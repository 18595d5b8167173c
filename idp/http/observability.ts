// Metrics and request ids. Prometheus metrics (prom-client) at /metrics, optionally behind a
// bearer token; every response carries X-Request-Id (the caller's, or a new one), which is also the
// reqId in every log line of that request.
import { randomUUID, timingSafeEqual, createHash } from "node:crypto";
import type { FastifyInstance } from "fastify";
import type Provider from "oidc-provider";
import type pg from "pg";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { KeyRing } from "../keys/key-ring.ts";
import type { SignInResult } from "../accounts/sign-in.ts";
import { idpErrors } from "../errors.ts";

export function requestId(request: { headers: Record<string, string | string[] | undefined> }): string {
  const given = request.headers["x-request-id"];
  // Only a sane caller id is echoed into logs and headers.
  return typeof given === "string" && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
}

/** A route label with bounded cardinality: uids and unknown paths never become labels. */
export function routeLabel(url: string, mount: string): string {
  const path = url.split("?")[0]!;
  if (path.startsWith("/interaction/")) return `/interaction/:uid${/\/(login|confirm|abort)$/.exec(path)?.[0] ?? ""}`;
  if (path.startsWith(`${mount}/`)) {
    const rest = path.slice(mount.length);
    const known = ["/.well-known/openid-configuration", "/jwks", "/token/revocation", "/token", "/me", "/session/end/confirm", "/session/end/success", "/session/end", "/auth"];
    const match = known.find((route) => rest === route || (route === "/auth" && rest.startsWith("/auth/")));
    return match ? `${mount}${match}${rest.startsWith("/auth/") ? "/:uid" : ""}` : `${mount}/other`;
  }
  if (path === "/reset") return path;
  if (path.startsWith("/reset/")) return "/reset/:token";
  if (path.startsWith("/verify-email/")) return "/verify-email/:token";
  if (path.startsWith("/invite/")) return "/invite/:token";
  if (path.startsWith("/email-link/")) return "/email-link/:token";
  return ["/healthz", "/readyz", "/metrics", "/assets/idp.css"].includes(path) ? path : "other";
}

export function createMetrics(deps: { pool: pg.Pool; keyRing: KeyRing; now: () => Date }) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "idp_" });
  const signIns = new Counter({ name: "idp_sign_ins_total", help: "Password sign-ins by outcome", labelNames: ["outcome"], registers: [registry] });
  const tokens = new Counter({ name: "idp_tokens_issued_total", help: "Token endpoint successes by grant type", labelNames: ["grant_type"], registers: [registry] });
  const refreshes = new Counter({ name: "idp_refreshes_total", help: "Refresh-token grants by outcome", labelNames: ["outcome"], registers: [registry] });
  const mails = new Counter({ name: "idp_mails_total", help: "Mail delivery attempts by outcome: sent, retried (failed, will retry), failed (given up)", labelNames: ["outcome"], registers: [registry] });
  for (const outcome of ["sent", "retried", "failed"]) mails.inc({ outcome }, 0);
  // Every channel of the outbox, told apart by label; idp_mails_total stays as it was, for mail alone.
  const messages = new Counter({ name: "idp_messages_total", help: "Outbox delivery attempts by channel (email, sms) and outcome: sent, retried, failed", labelNames: ["channel", "outcome"], registers: [registry] });
  for (const channel of ["email", "sms"]) for (const outcome of ["sent", "retried", "failed"]) messages.inc({ channel, outcome }, 0);
  const webhooks = new Counter({ name: "idp_webhooks_total", help: "Webhook delivery attempts by outcome: delivered, retried (failed, will retry), failed (given up)", labelNames: ["outcome"], registers: [registry] });
  for (const outcome of ["delivered", "retried", "failed"]) webhooks.inc({ outcome }, 0);
  const rateLimited = new Counter({ name: "idp_rate_limited_total", help: "Requests refused with 429", labelNames: ["route"], registers: [registry] });
  const duration = new Histogram({
    name: "idp_http_request_duration_seconds",
    help: "Request latency by route and status class",
    labelNames: ["method", "route", "status"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  new Gauge({
    name: "idp_db_pool_connections",
    help: "Database pool connections by state",
    labelNames: ["state"],
    registers: [registry],
    collect() {
      this.set({ state: "total" }, deps.pool.totalCount);
      this.set({ state: "idle" }, deps.pool.idleCount);
      this.set({ state: "waiting" }, deps.pool.waitingCount);
    },
  });
  new Gauge({
    name: "idp_signing_key_age_seconds",
    help: "Age of each signing key by its state",
    labelNames: ["kid", "status"],
    registers: [registry],
    collect() {
      this.reset();
      const now = deps.now().getTime();
      for (const entry of deps.keyRing.current().timeline) {
        this.set({ kid: entry.key.kid, status: entry.status }, (now - Date.parse(entry.key.createdAt)) / 1000);
      }
    },
  });

  return {
    registry,
    recordSignIn(result: SignInResult) {
      signIns.inc({ outcome: result.ok ? "success" : result.reason });
    },
    recordMail(outcome: "sent" | "retried" | "failed", channel: "email" | "sms" = "email") {
      if (channel === "email") mails.inc({ outcome });
      messages.inc({ channel, outcome });
    },
    recordWebhook(outcome: "delivered" | "retried" | "failed") {
      webhooks.inc({ outcome });
    },
    /** Counts the provider's token endpoint outcomes; attach to every provider instance. */
    observeProvider(provider: Provider) {
      provider.on("grant.success", (ctx) => {
        const grantType = String(ctx.oidc.params?.grant_type ?? "unknown");
        tokens.inc({ grant_type: grantType });
        if (grantType === "refresh_token") refreshes.inc({ outcome: "success" });
      });
      provider.on("grant.error", (ctx) => {
        if (ctx.oidc?.params?.grant_type === "refresh_token") refreshes.inc({ outcome: "error" });
      });
    },
    /** Times every request, including those oidc-provider answers before Fastify routing. */
    timeRequests(app: FastifyInstance, mount: string) {
      app.addHook("onRequest", async (request, reply) => {
        reply.raw.setHeader("X-Request-Id", request.id);
        const started = process.hrtime.bigint();
        // Labelled now: middie strips the mount path from the URL before the provider runs.
        const route = routeLabel(request.url, mount);
        reply.raw.once("finish", () => {
          const status = reply.raw.statusCode;
          duration.observe({ method: request.method, route, status: `${Math.floor(status / 100)}xx` }, Number(process.hrtime.bigint() - started) / 1e9);
          if (status === 429) rateLimited.inc({ route });
        });
      });
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** GET /metrics; with a token configured, only for `Authorization: Bearer <token>`. */
export function metricsRoute(app: FastifyInstance, metrics: Metrics, token: string | undefined) {
  const expected = token ? createHash("sha256").update(token).digest() : undefined;
  app.get("/metrics", async (request, reply) => {
    if (expected) {
      const given = /^Bearer (.+)$/.exec(request.headers.authorization ?? "")?.[1] ?? "";
      if (!timingSafeEqual(createHash("sha256").update(given).digest(), expected)) {
        throw idpErrors.unauthorized("a bearer token is required");
      }
    }
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
}
