// The first onRequest hook: a request naming a host that cannot be parsed gets 400 and one naming a
// host the IdP does not serve (ALLOWED_HOSTS) gets 421, before any other hook, the public-document
// cache or oidc-provider, which builds absolute URLs from that name and would fail or misdirect.
import type { IncomingMessage } from "node:http";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Config } from "../config.ts";
import { isAllowedHost, parseAllowedHosts, parseAuthority, type AllowedHosts, type Authority } from "./authority.ts";
import { idpErrors, type IdpError } from "../errors.ts";
import { PROBE_PATHS } from "./health.ts";


/** An absolute-form request target (`GET http://host/path`): Koa then builds URLs from it, not from Host. */
const ABSOLUTE_FORM = /^https?:\/\//i;

// Refusals are IdpErrors: `detail` is for the log only; the description never repeats what was sent.
const invalid = (description: string, detail: string) => idpErrors.invalidRequest(description, detail);

/** For the log: the start of a hostile value, quoted so control bytes stay visible. */
const quoted = (value: string) => JSON.stringify(value.slice(0, 100));

/**
 * Checks the names a request could be answered for: its Host header (exactly one, well-formed), an
 * absolute-form target's authority, and under TRUST_PROXY every X-Forwarded-Host value (Koa uses the
 * first, Fastify the last) and X-Forwarded-Proto. Returns the refusal, or undefined to go on.
 */
export function checkHost(raw: Pick<IncomingMessage, "url" | "headers" | "rawHeaders">, policy: { allowed: AllowedHosts; trustProxy: boolean }): IdpError | undefined {
  const target = raw.url ?? "";
  let path: string;
  const named: { source: string; value: string }[] = [];
  if (target.startsWith("/") || target === "*") {
    path = target.split("?", 1)[0]!;
  } else if (ABSOLUTE_FORM.test(target)) {
    const rest = target.slice(target.indexOf("//") + 2);
    const end = rest.search(/[/?#]/);
    named.push({ source: "request target", value: end === -1 ? rest : rest.slice(0, end) });
    path = end === -1 || rest[end] !== "/" ? "/" : rest.slice(end).split("?", 1)[0]!;
  } else {
    return invalid("The request target must be a path, an absolute http(s) URL or *.", `request target ${quoted(target)}`);
  }
  // Probes and scrapers address a pod or container by its IP: any well-formed host will do.
  const exempt = PROBE_PATHS.has(path);

  let hostHeaders = 0;
  for (let index = 0; index < raw.rawHeaders.length; index += 2) if (raw.rawHeaders[index]!.toLowerCase() === "host") hostHeaders++;
  if (hostHeaders > 1) return invalid("The request must have exactly one Host header.", `${hostHeaders} Host headers`);
  const host = raw.headers.host;
  if (host === undefined) {
    // HTTP/1.0 health checks (HAProxy's httpchk) send none; nothing else is answered without one.
    if (!exempt) return invalid("The request must have exactly one Host header.", "no Host header");
  } else if (!parseAuthority(host)) {
    return invalid("The Host header is not a valid host name with an optional port.", `Host ${quoted(host)}`);
  }

  const forwardedHost = policy.trustProxy ? raw.headers["x-forwarded-host"] : undefined;
  if (typeof forwardedHost === "string" && forwardedHost !== "") {
    for (const value of forwardedHost.split(",")) named.push({ source: "X-Forwarded-Host", value: value.trim() });
  } else if (host !== undefined) {
    named.push({ source: "Host", value: host });
  }
  const forwardedProto = policy.trustProxy ? raw.headers["x-forwarded-proto"] : undefined;
  if (typeof forwardedProto === "string" && forwardedProto !== "" && !forwardedProto.split(",").every((value) => /^https?$/i.test(value.trim()))) {
    return invalid("The X-Forwarded-Proto header must be http or https.", `X-Forwarded-Proto ${quoted(forwardedProto)}`);
  }

  const authorities: Authority[] = [];
  for (const { source, value } of named) {
    const authority = parseAuthority(value);
    if (!authority) return invalid(`The ${source} is not a valid host name with an optional port.`, `${source} ${quoted(value)}`);
    authorities.push(authority);
  }
  if (exempt) return undefined;
  const foreign = authorities.findIndex((authority) => !isAllowedHost(policy.allowed, authority));
  if (foreign === -1) return undefined;
  const { source, value } = named[foreign]!;
  return idpErrors.misdirected("This server does not answer for the host named in the request.", `${source} ${quoted(value)} is not in ALLOWED_HOSTS`);
}

/** Registers the check; must be the app's first onRequest hook. */
export function hostValidation(
  app: FastifyInstance,
  config: Pick<Config, "issuer" | "allowedHosts" | "trustProxy" | "production">,
  /** The security headers, applied by hand: this hook runs before the hooks that set them. */
  securityHeaders: (request: FastifyRequest, reply: FastifyReply) => void,
): void {
  const policy = { allowed: parseAllowedHosts(config.allowedHosts, config.issuer), trustProxy: config.trustProxy };
  if (policy.allowed.any && config.production) {
    app.log.warn("ALLOWED_HOSTS contains *: the IdP answers for any host name it is sent. List the names it is reached by instead.");
  }
  app.addHook("onRequest", async (request, reply) => {
    const refusal = checkHost(request.raw, policy);
    if (!refusal) return;
    securityHeaders(request, reply);
    request.log.info({ refused: refusal.detail }, "request refused by host validation");
    throw refusal;
  });
}
