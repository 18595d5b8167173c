// Rate limits per client address, per email and per client_id, counted in the RateLimitStore:
// a Fastify onRequest hook for every request to the OIDC endpoints and the sign-in pages (added
// before the provider's middleware, so a limited request never reaches it), and a check for the
// sign-in form post, which needs the parsed body for its per-email limit, the password reset
// posts, the sign-up posts (per email domain), the requests for SMS codes (per number), the user codes
// typed for a device and the device's polling. The per-request limits
// count in memory and sync with the store every RATE_LIMIT_SYNC_INTERVAL_MS (synced-counters.ts):
// no round trip per request. The sign-in limits go to the store on every post: few, and exact.
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from "fastify";
import { isIP } from "node:net";
import type { Config } from "../config.ts";
import type { Counter, RateLimitStore } from "../store/rate-limits.ts";
import { idpErrors } from "../errors.ts";
import { PROBE_PATHS } from "../http/health.ts";
import { accountKey } from "./lockout.ts";
import { emailDomain } from "./disposable-domains.ts";
import { rateLimitStoreTimeoutMs } from "./rate-limit-store.ts";
import { createSyncedCounters } from "./synced-counters.ts";
import { redactPath } from "../logging.ts";

export type Rule = { name: string; limit: number; windowSeconds: number };
type Check = { rule: Rule; subject: string };

/** Never limited besides the probes (PROBE_PATHS): the pages' assets, under this prefix. */
const EXEMPT_PREFIX = "/assets/";

export function rateLimitRules(config: Config) {
  const rule = (name: string, limit: number): Rule => ({ name, limit, windowSeconds: config.rateLimitWindowSeconds });
  return {
    requestPerIp: rule("request:ip", config.requestLimitPerIp),
    signInPerIp: rule("signin:ip", config.signInLimitPerIp),
    signInPerAccount: rule("signin:account", config.signInLimitPerAccount),
    tokenPerIp: rule("token:ip", config.tokenLimitPerIp),
    tokenPerClient: rule("token:client", config.tokenLimitPerClient),
    passwordResetPerIp: rule("reset:ip", config.passwordResetLimitPerIp),
    passwordResetPerAccount: rule("reset:account", config.passwordResetLimitPerAccount),
    emailCodePerIp: rule("email-code:ip", config.emailCodeLimitPerIp),
    emailCodePerAccount: rule("email-code:account", config.emailCodeLimitPerAccount),
    signUpPerIp: rule("signup:ip", config.signUpLimitPerIp),
    signUpPerDomain: rule("signup:domain", config.signUpLimitPerDomain),
    smsCodePerIp: rule("sms:ip", config.smsCodeLimitPerIp),
    smsCodePerNumber: rule("sms:number", config.smsCodeLimitPerNumber),
    deviceCodePerIp: rule("device-code:ip", config.deviceCodeLimitPerIp),
  };
}

/**
 * The address a limit counts: the IP itself, except that an IPv6 address counts as its /64 (one
 * customer usually gets a whole /64, so single addresses would be free to rotate through) and an
 * IPv4-mapped address as the IPv4 one.
 */
export function addressKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (isIP(ip) !== 6) return ip;
  const [head = "", tail = ""] = ip.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = ip.includes("::") ? [...left, ...Array(8 - left.length - right.length).fill("0"), ...right] : left;
  return `${groups.slice(0, 4).map((group) => parseInt(group, 16).toString(16)).join(":")}::/64`;
}

/**
 * The request's path as the router and the provider's mount would see it, for choosing limits:
 * absolute-form targets reduced to their path, query dropped, percent-decoded, slashes collapsed,
 * trailing slash dropped, lower-cased (the mount matches case-insensitively). Erring towards a
 * match only ever counts a request against one limit too many.
 */
export function limitPath(url: string): string {
  let path = url.split(/[?#]/, 1)[0]!;
  if (!path.startsWith("/")) path = URL.parse(path)?.pathname ?? path;
  try {
    path = decodeURIComponent(path);
  } catch {
    // malformed escapes: match on the raw path
  }
  return path.replace(/\/{2,}/g, "/").replace(/(.)\/$/, "$1").toLowerCase();
}

/** The client_id of an HTTP Basic Authorization header (RFC 6749 2.3.1: form-urlencoded), if any. */
export function basicClientId(header: string | undefined): string | undefined {
  const match = /^basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header ?? "");
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon <= 0) return undefined;
  try {
    return decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, " ")).slice(0, 200);
  } catch {
    return decoded.slice(0, colon).slice(0, 200);
  }
}

export type RateLimitOptions = {
  now?: () => Date;
  /** Where a failed background sync of the counters is reported. */
  logger?: Pick<FastifyBaseLogger, "warn">;
};

export function createRateLimits(store: RateLimitStore, config: Config, options: RateLimitOptions = {}) {
  const now = options.now ?? (() => new Date());
  const rules = rateLimitRules(config);
  const mount = new URL(config.issuer).pathname.replace(/\/$/, "").toLowerCase();
  const tokenPath = `${mount}/token`;
  // Where a person types a device's user code (RFC 8628): each post is a guess, counted exactly.
  const deviceCodePath = `${mount}/device`;
  // Discovery and the JWKS are static, public and made to be fetched often (Convex fetches both on
  // every authentication, through its cache): they touch no database, and counting them would
  // cost more than serving them.
  const publicDocuments = new Set([`${mount}/.well-known/openid-configuration`, `${mount}/jwks`]);
  // RATE_LIMIT_SYNC_INTERVAL_MS=0: no local counting, every request goes to the store as it comes.
  const synced =
    config.rateLimitSyncIntervalMs > 0
      ? createSyncedCounters({
          store,
          intervalMs: config.rateLimitSyncIntervalMs,
          timeoutMs: rateLimitStoreTimeoutMs(config),
          now,
          onSyncError: (error) => options.logger?.warn({ err: error }, "rate-limit counters not synced with the store; counting locally until the next sync"),
        })
      : undefined;

  const counterKey = ({ rule, subject }: Check) => `${rule.name}:${subject}`;

  /** The seconds to wait when any counter is over its check's limit. */
  function waitFor(checks: Check[], counters: Counter[]): number | undefined {
    let wait: number | undefined;
    counters.forEach((counter, index) => {
      if (counter.count <= checks[index]!.rule.limit) return;
      const seconds = Math.max(1, Math.ceil((counter.resetAt.getTime() - now().getTime()) / 1000));
      wait = Math.max(wait ?? 0, seconds);
    });
    return wait;
  }

  /** Counts one request (or `amount`) against each check in the store, in one round trip; the seconds to wait when any is over its limit. */
  async function countInStore(checks: (Check & { amount?: number })[]): Promise<number | undefined> {
    const active = checks.filter((check) => check.rule.limit > 0);
    const counters = await store.add(active.map((check) => ({ key: counterKey(check), amount: check.amount ?? 1, windowSeconds: check.rule.windowSeconds })));
    return waitFor(active, counters);
  }

  /** The per-request limits: counted locally when syncing, else in the store. */
  function countRequest(checks: Check[]): number | undefined | Promise<number | undefined> {
    if (!synced) return countInStore(checks);
    const active = checks.filter((check) => check.rule.limit > 0);
    return waitFor(active, active.map((check) => synced.hit(counterKey(check), check.rule.windowSeconds)));
  }

  return {
    rules,

    /** onRequest hook: the per-address limit on everything, and the token endpoint's own limits. */
    async onRequest(request: FastifyRequest, _reply: FastifyReply): Promise<undefined> {
      const path = limitPath(request.url);
      if (PROBE_PATHS.has(path) || path.startsWith(EXEMPT_PREFIX) || publicDocuments.has(path)) return undefined;
      const address = addressKey(request.ip);
      const checks: Check[] = [{ rule: rules.requestPerIp, subject: address }];
      const token = request.method === "POST" && path === tokenPath;
      if (token) checks.push({ rule: rules.tokenPerIp, subject: address });
      // Only the Authorization header: the provider reads the body from the raw stream itself, so
      // it is not touched here (public clients, which name themselves in the body, count per address).
      const clientId = token ? basicClientId(request.headers.authorization) : undefined;
      let wait: number | undefined;
      try {
        wait = await countRequest(checks);
        // The client id is the caller's choice: counted only once the address is within its limits,
        // so one address cannot fill the counters with made-up ids faster than its own limit.
        if (wait === undefined && clientId) wait = await countRequest([{ rule: rules.tokenPerClient, subject: clientId }]);
        if (wait === undefined && request.method === "POST" && path === deviceCodePath) {
          wait = await countInStore([{ rule: rules.deviceCodePerIp, subject: address }]);
        }
      } catch (error) {
        // The counters are unreachable (database or Redis down): let the request through rather
        // than fail every endpoint; it meets the outage itself and answers 503. Sign-in, whose
        // limits and lockout are checked in its route, fails instead of going unlimited.
        request.log.warn({ err: error }, "rate limits not checked: counters unavailable");
        return undefined;
      }
      if (wait === undefined) return undefined;
      request.log.warn({ path: redactPath(path), address, wait }, "rate limited");
      throw idpErrors.tooManyRequests(wait);
    },

    /** Sends the last locally counted hits to the store and stops syncing; call before closing the store. */
    async close(): Promise<void> {
      await synced?.close();
    },

    /** The sign-in form post's limits: per address and per email (known or not). Seconds to wait, or undefined. */
    signIn(ip: string, email: string): Promise<number | undefined> {
      return countInStore([
        { rule: rules.signInPerIp, subject: addressKey(ip) },
        { rule: rules.signInPerAccount, subject: accountKey(email) },
      ]);
    },

    /** A request for a password reset link: per address and per email (known or not). */
    passwordResetRequest(ip: string, email: string): Promise<number | undefined> {
      return countInStore([
        { rule: rules.passwordResetPerIp, subject: addressKey(ip) },
        { rule: rules.passwordResetPerAccount, subject: accountKey(email) },
      ]);
    },

    /** A request for a sign-in code by mail: per address and per email (known or not). */
    emailCodeRequest(ip: string, email: string): Promise<number | undefined> {
      return countInStore([
        { rule: rules.emailCodePerIp, subject: addressKey(ip) },
        { rule: rules.emailCodePerAccount, subject: accountKey(email) },
      ]);
    },

    /**
     * A sign-up post the guard let through: per address (counting `weight`, 2 for a form sent without
     * the proof of work it asked for) and per email domain (lower-cased; one whose email has no
     * domain counts against the address only). Seconds to wait, or undefined.
     */
    signUpRequest(ip: string, email: string, weight: 1 | 2 = 1): Promise<number | undefined> {
      const domain = emailDomain(email);
      return countInStore([
        { rule: rules.signUpPerIp, subject: addressKey(ip), amount: weight },
        ...(domain ? [{ rule: rules.signUpPerDomain, subject: domain }] : []),
      ]);
    },

    /**
     * A request for an SMS code: per address and per number (E.164, registered or not). Each SMS
     * costs money, so a caller counts before it queues one.
     */
    smsCodeRequest(ip: string, e164: string): Promise<number | undefined> {
      return countInStore([
        { rule: rules.smsCodePerIp, subject: addressKey(ip) },
        { rule: rules.smsCodePerNumber, subject: e164 },
      ]);
    },

    /**
     * A device polling the token endpoint (RFC 8628 3.5): at most once per `intervalSeconds` for one
     * device code (`subject`, a digest of it). True when this poll came too soon (answer slow_down).
     */
    async devicePollTooSoon(subject: string, intervalSeconds: number): Promise<boolean> {
      const wait = await countInStore([{ rule: { name: "device-poll", limit: 1, windowSeconds: intervalSeconds }, subject }]);
      return wait !== undefined;
    },

    /** A new password posted with a reset link: per address (the link names no email). */
    passwordResetCompletion(ip: string): Promise<number | undefined> {
      return countInStore([{ rule: rules.passwordResetPerIp, subject: addressKey(ip) }]);
    },
  };
}

export type RateLimits = ReturnType<typeof createRateLimits>;
