// Tells "the database is unreachable right now" apart from every other error, so that requests
// get a 503 with Retry-After (and readiness fails) instead of a 500, and nothing retries blindly.

const NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENOENT"]);

// SQLSTATE class 08 (connection exception), 57P01-57P03 (the server is shutting down or starting)
// and 57014 (a statement cancelled: DATABASE_STATEMENT_TIMEOUT_MS, which nothing else sets off).
const SQLSTATE = /^(08...|57P0[123]|57014)$/;

// pg's own: a lost connection, a pool checkout or connect past connectionTimeoutMillis, and a query
// with no answer within query_timeout (a server that stopped answering).
const MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended unexpectedly|Query read timeout/i;

/**
 * Thrown by a store whose own backing service is unreachable (Redis, for the rate-limit counters):
 * answered like a database outage, with 503 and Retry-After.
 */
export class BackendUnavailableError extends Error {
  override name = "BackendUnavailableError";
}

export function isDatabaseUnavailable(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    if (current instanceof BackendUnavailableError) return true;
    const { code, message, cause } = current as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof code === "string" && (NETWORK_CODES.has(code) || SQLSTATE.test(code))) return true;
    if (typeof message === "string" && MESSAGES.test(message)) return true;
    current = cause;
  }
  return false;
}

/** Seconds a client should wait before retrying while the database is away. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;
