-- The core schema: people who sign in, the applications they sign in to, and oidc-provider's
-- short-lived state (sessions, codes, tokens, grants), all in one place so a restart loses nothing.

CREATE TABLE users (
  id             text PRIMARY KEY,            -- opaque and stable: the `sub` of every token
  email          text NOT NULL,
  email_verified boolean NOT NULL DEFAULT false,
  name           text,
  picture        text,
  password_hash  text,                        -- argon2id; NULL means no password sign-in
  disabled       boolean NOT NULL DEFAULT false,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);
-- Emails are unique whatever their case: Alice@x and alice@x are one person.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

CREATE TABLE clients (
  id                        text PRIMARY KEY,
  name                      text,
  secret_hash               text,           -- SHA-256 of a 256-bit random secret; NULL for public clients
  redirect_uris             text[] NOT NULL,
  post_logout_redirect_uris text[] NOT NULL DEFAULT '{}',
  first_party               boolean NOT NULL DEFAULT false,  -- first-party clients skip the consent page
  created_at                timestamptz NOT NULL DEFAULT now(),
  updated_at                timestamptz NOT NULL DEFAULT now()
);

-- One table for every oidc-provider model (Session, Interaction, AuthorizationCode, RefreshToken, Grant, ...).
CREATE TABLE oidc_payloads (
  model       text NOT NULL,
  id          text NOT NULL,
  payload     jsonb NOT NULL,
  grant_id    text,
  uid         text,
  user_code   text,
  expires_at  timestamptz,
  consumed_at timestamptz,
  PRIMARY KEY (model, id)
);
CREATE INDEX oidc_payloads_grant_id_idx ON oidc_payloads (grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX oidc_payloads_uid_idx ON oidc_payloads (uid) WHERE uid IS NOT NULL;
CREATE INDEX oidc_payloads_user_code_idx ON oidc_payloads (user_code) WHERE user_code IS NOT NULL;
CREATE INDEX oidc_payloads_expires_at_idx ON oidc_payloads (expires_at) WHERE expires_at IS NOT NULL;
