// Logger settings: JSON lines, and nothing secret in them. URLs are logged without their query
// (an id_token_hint or code can ride in it), a reset, verification or invitation link's token is cut out of its path, and
// credential-bearing headers are redacted.
import type { FastifyServerOptions } from "fastify";

export const REDACTED_PATHS = [
  "req.headers.authorization",
  "req.headers.cookie",
  'res.headers["set-cookie"]',
  "*.password",
  "*.client_secret",
  "*.refresh_token",
  "*.access_token",
  "*.id_token",
  "*.code",
];

export function pathOnly(url: string): string {
  const query = url.indexOf("?");
  // An absolute-form target (GET http://host/reset/<token>) is routed like its path: log only that.
  return redactPath((query === -1 ? url : url.slice(0, query)).replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, ""));
}

/** A path with the secret in it replaced: a mailed link's token (/reset/<token>, /verify-email/<token>, /invite/<token>, /email-link/<token>). */
export function redactPath(path: string): string {
  return path.replace(/^(\/+(?:reset|verify-email|invite|email-link)\/+)[^/?#]+/i, "$1[redacted]");
}

export function loggerOptions(level: string): FastifyServerOptions["logger"] {
  return {
    level,
    redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
    serializers: {
      req: (request: { method: string; url: string; ip?: string; id?: string }) => ({
        method: request.method,
        url: pathOnly(request.url),
        remoteAddress: request.ip,
      }),
    },
  };
}
