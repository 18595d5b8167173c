-- Mail, and the single-use tokens mails carry (password reset links now; sign-up codes and magic
-- links later use the same table with another purpose).
--
-- mail_outbox: a mail is written here in the same transaction (or statement) as what it reports,
-- and sent afterwards by a worker in every instance (idp/mail/outbox-worker.ts). So a slow or
-- failing SMTP server changes neither a response nor its timing, and a restart loses no mail. A
-- worker claims due rows with FOR UPDATE SKIP LOCKED and leases them (next_attempt_at moves past
-- the send's time limit), so two instances never send one mail at once, and no connection is held
-- while SMTP is talking. The template's values are sealed (AES-GCM, key derived from the cookie
-- keys): a reset link is a secret, and the database alone must not give it away. The sealed
-- payload is dropped once the mail is sent or given up.
CREATE TABLE mail_outbox (
  id              bigserial PRIMARY KEY,
  template        text NOT NULL,          -- password_reset, password_changed
  recipient       text NOT NULL,
  locale          text NOT NULL,
  payload         bytea,                  -- sealed JSON of the template's values; NULL once done
  user_id         text,
  created_at      timestamptz NOT NULL,
  send_before     timestamptz,            -- worthless after this (the link in it has expired)
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  sent_at         timestamptz,
  failed_at       timestamptz,            -- given up: attempts exhausted, or past send_before
  last_error      text
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX mail_outbox_finished_idx ON mail_outbox (coalesce(sent_at, failed_at)) WHERE sent_at IS NOT NULL OR failed_at IS NOT NULL;

-- one_time_tokens: only the SHA-256 of a token is stored; the token travels in the (sealed) mail
-- and comes back in the link. A token is used with one UPDATE ... WHERE consumed_at IS NULL AND
-- revoked_at IS NULL ... RETURNING, so exactly one request can use it; a new token of a purpose
-- revokes the person's older ones.
CREATE TABLE one_time_tokens (
  id              bigserial PRIMARY KEY,
  purpose         text NOT NULL,          -- password_reset
  user_id         text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  token_hash      bytea NOT NULL,
  created_at      timestamptz NOT NULL,
  expires_at      timestamptz NOT NULL,
  consumed_at     timestamptz,
  revoked_at      timestamptz,            -- superseded by a newer token, or by a completed reset
  locale          text NOT NULL,          -- the language of the request, for the pages the link opens
  interaction_uid text                    -- the sign-in the request came from, to return to it
);
CREATE UNIQUE INDEX one_time_tokens_hash_key ON one_time_tokens (purpose, token_hash);
CREATE INDEX one_time_tokens_open_idx ON one_time_tokens (user_id, purpose) WHERE consumed_at IS NULL AND revoked_at IS NULL;
CREATE INDEX one_time_tokens_expires_at_idx ON one_time_tokens (expires_at);

-- A completed reset signs the person out everywhere: their sessions and grants are found by the
-- account id in the payload (the tokens under a grant then by grant_id). Only those two models
-- are indexed, so token writes pay nothing for it.
CREATE INDEX oidc_payloads_account_id_idx ON oidc_payloads ((payload->>'accountId')) WHERE model IN ('Session', 'Grant');
