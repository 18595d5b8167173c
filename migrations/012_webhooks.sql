-- Webhooks: user and account events posted to the operator's endpoints (a Convex HTTP action, say),
-- signed per the Standard Webhooks specification (idp/webhooks/).
--
-- webhook_endpoints: added with `idp webhooks add`. The signing secret must be usable to sign, so it
-- cannot be hashed: it is sealed (AES-256-GCM under a key derived from the cookie keys, as queued
-- mail is), and the database alone does not give it away. events NULL: every event type.
CREATE TABLE webhook_endpoints (
  id          text PRIMARY KEY,        -- ep_<random>, what `idp webhooks list` shows
  url         text NOT NULL,
  events      text[],                  -- the event types it receives; NULL: all
  secret      bytea NOT NULL,          -- sealed whsec_<base64>
  created_at  timestamptz NOT NULL
);

-- webhook_deliveries: one row per event and endpoint, written in the transaction of the change it
-- reports (INSERT ... SELECT over the endpoints whose events match), so no change goes unreported
-- and no event reports a change that rolled back. A worker in every instance claims due rows with
-- FOR UPDATE SKIP LOCKED under a lease, as the mail outbox does, and never claims a row while an
-- older one of the same user and endpoint is undelivered: each endpoint sees a user's events in
-- order. message_id is the webhook-id, the same for every attempt and every endpoint, for the
-- receiver's deduplication. The body is dropped once delivered or given up.
CREATE TABLE webhook_deliveries (
  id              bigserial PRIMARY KEY,
  endpoint_id     text NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
  message_id      text NOT NULL,
  event_type      text NOT NULL,
  user_id         text,                   -- whom it is about (no foreign key: user.deleted outlives the user)
  body            text,                   -- the JSON posted, { type, timestamp, data }; NULL once done
  created_at      timestamptz NOT NULL,
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  delivered_at    timestamptz,
  failed_at       timestamptz,            -- given up: older than WEBHOOK_MAX_AGE
  last_error      text
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX webhook_deliveries_pending_user_idx ON webhook_deliveries (endpoint_id, user_id, id) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX webhook_deliveries_finished_idx ON webhook_deliveries (coalesce(delivered_at, failed_at)) WHERE delivered_at IS NOT NULL OR failed_at IS NOT NULL;
