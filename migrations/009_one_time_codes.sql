-- One-time codes: the 6-digit codes (and the magic link in the same mail) that sign a person in
-- without a password, and that prove an email address at sign-up. Unlike one_time_tokens (a
-- 256-bit link, so a plain SHA-256 is safe), a 6-digit code would fall to a dictionary of a
-- million hashes: every secret here is an HMAC under a key derived from the cookie keys, which the
-- database never holds.
--
-- A code is bound to the browser that asked (browser_hmac: the HMAC of a random cookie), so a
-- code or link used anywhere else does nothing on its own. It is tried with one UPDATE that adds
-- an attempt and, when the code matches, consumes it (see idp/store/one-time-codes.ts): a sixth
-- attempt, a replay and a race all find nothing to update. A link opened in another browser can
-- approve the sign-in (approved_at) only with the confirmation code the asking browser shows; the
-- asking browser then consumes it.
CREATE TABLE one_time_codes (
  id              bigserial PRIMARY KEY,
  purpose         text NOT NULL,          -- sign_in_email, sign_in_sms, sign_up
  identifier      text NOT NULL,          -- the lower-cased email or the E.164 number it went to
  user_id         text REFERENCES users (id) ON DELETE CASCADE,  -- NULL at sign-up: no account yet
  code_hmac       bytea NOT NULL,
  link_hmac       bytea,                  -- the magic link in the same mail, if any
  browser_hmac    bytea NOT NULL,
  attempts        integer NOT NULL DEFAULT 0,
  created_at      timestamptz NOT NULL,
  expires_at      timestamptz NOT NULL,
  approved_at     timestamptz,            -- confirmed: by a link in another browser, or a sign-up's code
  consumed_at     timestamptz,
  revoked_at      timestamptz,            -- superseded by a newer code of the purpose and identifier
  locale          text NOT NULL,
  interaction_uid text
);
CREATE UNIQUE INDEX one_time_codes_link_key ON one_time_codes (link_hmac) WHERE link_hmac IS NOT NULL;
CREATE INDEX one_time_codes_open_idx ON one_time_codes (purpose, identifier) WHERE consumed_at IS NULL AND revoked_at IS NULL;
CREATE INDEX one_time_codes_expires_at_idx ON one_time_codes (expires_at);
