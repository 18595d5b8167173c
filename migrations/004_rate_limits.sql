-- Counters for rate limits and sign-in lockouts (idp/store/rate-limits.ts), used when REDIS_URL is
-- not set. Every IdP instance on this database increments the same rows, so limits hold across
-- instances. A row is one fixed window: it counts from its first hit until expires_at, after which
-- the next hit starts it again at 1. Expired rows are deleted by the periodic cleanup.
CREATE TABLE rate_limits (
  key        text PRIMARY KEY,      -- e.g. "signin:ip:203.0.113.7", "lockout:failures:alice@example.com"
  count      integer NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE INDEX rate_limits_expires_at_idx ON rate_limits (expires_at);
