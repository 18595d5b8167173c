// buildApp(deps): the one composition root. It wires stores, accounts, the provider and the routes
// into a Fastify instance and never listens, so tests can use app.inject() or listen themselves.
import Fastify, { type FastifyInstance, type FastifyError, type FastifyServerOptions } from "fastify";
import middie from "@fastify/middie";
import cookie from "@fastify/cookie";
import formbody from "@fastify/formbody";
import csrfProtection from "@fastify/csrf-protection";
import type Provider from "oidc-provider";
import { keySchedulePolicy, mountPath, type Config } from "./config.ts";
import { createKeyRing, type KeyRing } from "./keys/key-ring.ts";
import type { KeySchedule } from "./keys/key-schedule.ts";
import type { Database } from "./db/database.ts";
import type { KeyMaterial } from "./keys/key-material.ts";
import { createUserStore } from "./store/users.ts";
import { createClientStore } from "./store/clients.ts";
import { createOidcPayloadStore } from "./store/oidc-payloads.ts";
import { ConsumeConflictError, type PendingWrite } from "./oidc/token-unit-of-work.ts";
import { isDatabaseUnavailable, UNAVAILABLE_MESSAGE, UNAVAILABLE_RETRY_AFTER_SECONDS } from "./db/availability.ts";
import { argon2Params, createPasswordHasher } from "./accounts/passwords.ts";
import { createPasswordSignIn } from "./accounts/sign-in.ts";
import { openRateLimitStore } from "./abuse/rate-limit-store.ts";
import { createLockout, lockoutPolicy } from "./abuse/lockout.ts";
import { createRateLimits } from "./abuse/limits.ts";
import { createAdapterClass } from "./oidc/adapter.ts";
import { cachedClientLookup } from "./oidc/client-cache.ts";
import { createProvider } from "./oidc/provider.ts";
import { recordRevocations } from "./oidc/revocation-audit.ts";
import { recordSignOuts } from "./oidc/sign-out-audit.ts";
import { createAuditStore } from "./store/audit.ts";
import { interactionRoutes } from "./interactions/routes.ts";
import { errorPage, stylesheet, STYLESHEET_PATH } from "./interactions/views.ts";
import { loggerOptions } from "./logging.ts";
import { frameworkErrorHeaders, providerSecurityHeaders, securityHeaders } from "./http/security-headers.ts";
import { refuseNulParameters } from "./oidc/nul-parameters.ts";
import { createMetrics, metricsRoute, requestId } from "./http/observability.ts";
import { createPublicDocumentCache } from "./http/public-documents.ts";

export type AppDeps = {
  config: Config;
  db: Database;
  keys: KeyMaterial;
  /** The clock; tests drive it. */
  now?: () => Date;
  /** Fastify logger settings; defaults to JSON logs at config.logLevel with secrets redacted. */
  logger?: FastifyServerOptions["logger"];
};

declare module "fastify" {
  interface FastifyInstance {
    /** The oidc-provider instance behind the OIDC endpoints (rebuilt when the signing keys change). */
    provider: Provider;
    /** The signing keys in use; refresh() re-reads KEYS_DIR at once. */
    keyRing: KeyRing;
  }
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, db, keys } = deps;
  const now = deps.now ?? (() => new Date());

  const users = createUserStore(db);
  const clients = createClientStore(db);
  const payloads = createOidcPayloadStore(db, now);
  const hasher = createPasswordHasher(argon2Params(config));
  // The provider and the sign-in pages look clients up on every request: from memory, briefly.
  const clientLookup = cachedClientLookup(clients, config.clientCacheTtlSeconds, now);
  const adapter = createAdapterClass({
    payloads,
    clients: clientLookup,
    refreshTokenReuseGraceSeconds: config.refreshTokenReuseGraceSeconds,
    now,
  });
  // One statement, all or nothing (oidc-payloads.ts commitWrites); a refused consume means a
  // concurrent request used the code or refresh token first.
  const commitTokenWrites = async (writes: PendingWrite[]) => {
    const refused = await payloads.commitWrites(writes);
    if (refused) {
      throw new ConsumeConflictError(`${refused.consumeRefused === "RefreshToken" ? "refresh token" : "authorization code"} already used`);
    }
  };
  const auditStore = createAuditStore(db, now);

  // The provider signs with the keys it was built with, so it is rebuilt whenever the key schedule
  // changes (a staged key starts signing, an old one retires); its state is all in the database.
  const keyRing = await createKeyRing({ dir: config.keysDir, now, policy: keySchedulePolicy(config) });
  const metrics = createMetrics({ pool: db.pool, keyRing, now });
  const buildProvider = (schedule: KeySchedule) => {
    const built = createProvider({ config, keys: { ...keys, signingKeys: schedule.published }, adapter, users, commitTokenWrites, now });
    built.on("server_error", (_ctx, error) => app.log.error({ err: error }, "oidc-provider server_error"));
    // Token and grant revocations, and sign-outs, go to the audit trail (never the token values).
    recordRevocations(built, auditStore, (error) => app.log.error({ err: error }, "audit event not recorded"));
    recordSignOuts(built, auditStore, (error) => app.log.error({ err: error }, "audit event not recorded"));
    providerSecurityHeaders(built);
    refuseNulParameters(built);
    metrics.observeProvider(built);
    return { provider: built, handle: built.callback() };
  };

  const badUrlHeaders = frameworkErrorHeaders({ issuer: config.issuer });
  const app: FastifyInstance = Fastify({
    logger: deps.logger ?? loggerOptions(config.logLevel),
    trustProxy: config.trustProxy,
    genReqId: requestId,
    bodyLimit: 64 * 1024,
    // A URL with broken percent-encoding is refused before routing and before any hook: give it the
    // security headers and the one error handler like every other bad request.
    frameworkErrors: (error, request, reply) => {
      badUrlHeaders(request, reply);
      return errorHandler.call(app, error, request, reply);
    },
  });

  warnAboutConfiguration(app, config);
  metrics.timeRequests(app, mountPath(config));
  // Discovery and the JWKS from memory once the provider has answered them: only the request id and
  // timing hook runs before it.
  const publicDocuments = createPublicDocumentCache({ mount: mountPath(config), trustProxy: config.trustProxy });
  app.addHook("onRequest", publicDocuments.onRequest);
  let current = buildProvider(keyRing.current());
  keyRing.onChange((schedule) => {
    current = buildProvider(schedule);
    publicDocuments.clear();
    app.log.info({ signing: schedule.signing?.kid, published: schedule.published.map((key) => key.kid) }, "signing keys changed");
  });
  keyRing.start(config.keysReloadIntervalSeconds, (error) => app.log.error({ err: error }, "could not reload the signing keys"));
  app.addHook("onClose", async () => keyRing.stop());
  app.decorate("provider", { getter: () => current.provider });
  app.decorate("keyRing", keyRing);

  // Security headers, registered before middie so they also reach the responses oidc-provider writes.
  await securityHeaders(app, { issuer: config.issuer });

  // Abuse protection (idp/abuse/): counters shared by every instance, in Redis or the database. The
  // limits hook comes before middie, so a limited request never reaches the provider.
  const rateLimitStore = await openRateLimitStore(config, db, now);
  const rateLimits = createRateLimits(rateLimitStore, config, { now, logger: app.log });
  // The limits send their last locally counted requests before the store closes.
  app.addHook("onClose", async () => {
    await rateLimits.close();
    await rateLimitStore.close();
  });
  const lockout = createLockout(rateLimitStore, lockoutPolicy(config), now);
  app.addHook("onRequest", rateLimits.onRequest);

  // oidc-provider is a Koa app: it runs as middleware before Fastify's routing, under the issuer's path.
  await app.register(middie);
  app.use(mountPath(config), (req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) => current.handle(req, res));

  await app.register(cookie, { secret: keys.cookieKeys });
  await app.register(formbody);
  await app.register(csrfProtection, {
    sessionPlugin: "@fastify/cookie",
    cookieOpts: { path: "/interaction", httpOnly: true, sameSite: "lax", signed: true, secure: "auto" },
  });

  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) => {
    if (wantsHtml(request.url)) return reply.code(404).type("text/html").send(errorPage({ title: "Not found", message: "There is no page here." }));
    return reply.code(404).send({ error: "not_found", error_description: "no such endpoint" });
  });

  app.get(STYLESHEET_PATH, async (_request, reply) =>
    reply.type("text/css").header("Cache-Control", "public, max-age=3600").send(stylesheet),
  );
  // Liveness: the process answers. Readiness: it can also reach its database (keys load at start).
  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_request, reply) => {
    try {
      await db.query("SELECT 1");
      return { status: "ready" };
    } catch (error) {
      if (!isDatabaseUnavailable(error)) throw error;
      return reply.code(503).header("Retry-After", UNAVAILABLE_RETRY_AFTER_SECONDS).send({ status: "unavailable", error_description: UNAVAILABLE_MESSAGE });
    }
  });
  const checkPassword = createPasswordSignIn(users, hasher, { lockout, audit: auditStore });
  const signInWithPassword: typeof checkPassword = async (...args) => {
    const result = await checkPassword(...args);
    metrics.recordSignIn(result);
    return result;
  };
  metricsRoute(app, metrics, config.metricsToken);
  const provider = () => current.provider;
  await app.register(async (scope) => interactionRoutes(scope, { provider, clients: clientLookup, signInWithPassword, limitSignIn: rateLimits.signIn }));

  scheduleCleanup(app, "expired oidc state", () => payloads.deleteExpired(), config.payloadCleanupIntervalSeconds);
  scheduleCleanup(app, "expired rate-limit counters", () => rateLimitStore.deleteExpired(), config.payloadCleanupIntervalSeconds);
  if (config.auditRetentionDays > 0) {
    const retentionMs = config.auditRetentionDays * 86_400_000;
    scheduleCleanup(app, "audit events past AUDIT_RETENTION_DAYS", () => auditStore.expireBefore(new Date(now().getTime() - retentionMs)), config.payloadCleanupIntervalSeconds);
  }

  return app;
}

/** Settings that start but are probably not what the operator meant. */
function warnAboutConfiguration(app: FastifyInstance, config: Config) {
  if (new URL(config.issuer).protocol === "https:" && !config.trustProxy) {
    app.log.warn(
      "ISSUER is https but TRUST_PROXY is off: requests from the TLS-terminating proxy look like plain http, so cookies are set without Secure. Set TRUST_PROXY=true behind a proxy you control.",
    );
  }
}

function wantsHtml(url: string): boolean {
  return url.startsWith("/interaction");
}

/** One place that turns errors into responses: 4xx say what was wrong, 5xx say nothing internal. */
function errorHandler(this: FastifyInstance, error: FastifyError, request: import("fastify").FastifyRequest, reply: import("fastify").FastifyReply) {
  if (isDatabaseUnavailable(error)) {
    reply.header("Retry-After", UNAVAILABLE_RETRY_AFTER_SECONDS);
    if (wantsHtml(request.url)) return reply.code(503).type("text/html").send(errorPage({ title: "Temporarily unavailable", message: UNAVAILABLE_MESSAGE }));
    return reply.code(503).send({ error: "temporarily_unavailable", error_description: UNAVAILABLE_MESSAGE });
  }
  const status = error.validation ? 400 : error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
  if (status >= 500) request.log.error({ err: error }, "request failed");
  const csrf = error.code?.startsWith("FST_CSRF");
  const message =
    status >= 500
      ? "The server could not complete the request."
      : csrf
        ? "This form has expired. Go back, reload the page and try again."
        : error.message;
  if (wantsHtml(request.url)) {
    const title = status >= 500 ? "Something went wrong" : csrf ? "Form expired" : "Invalid request";
    return reply.code(status).type("text/html").send(errorPage({ title, message }));
  }
  return reply.code(status).send({ error: status >= 500 ? "server_error" : "invalid_request", error_description: message });
}

function scheduleCleanup(app: FastifyInstance, what: string, cleanup: () => Promise<number>, intervalSeconds: number) {
  if (intervalSeconds <= 0) return;
  let timer: NodeJS.Timeout | undefined;
  app.addHook("onReady", async () => {
    timer = setInterval(() => {
      cleanup().then(
        (deleted) => deleted > 0 && app.log.info({ deleted }, `removed ${what}`),
        (error: unknown) => app.log.warn({ err: error }, `cleanup of ${what} failed`),
      );
    }, intervalSeconds * 1000);
    timer.unref();
  });
  app.addHook("onClose", async () => clearInterval(timer));
}
