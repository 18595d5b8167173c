-- Invitations (SIGN_UP=invite, `idp users invite`): the operator names an address, the person gets a
-- link by mail, and choosing a password there creates their account, its address verified (the
-- link came to it). Until then no user exists: a pending invitation is only this row.
--
-- As with one_time_tokens, only the SHA-256 of the link's token (32 random bytes) is stored; the
-- token travels sealed in the outbox and comes back in the link. An invitation is used with one
-- UPDATE ... WHERE consumed_at IS NULL AND revoked_at IS NULL AND expires_at > now RETURNING, in
-- the transaction that creates the user, so exactly one account comes of it. At most one
-- invitation per address is open (neither used nor revoked): a new one revokes the older first,
-- and the unique index turns a race of two into one clear failure.
CREATE TABLE invitations (
  id          bigserial PRIMARY KEY,
  email       text NOT NULL,          -- as the operator typed it; the account gets it so
  token_hash  bytea NOT NULL,
  name        text,                   -- the account's name, if the operator gave one
  locale      text NOT NULL,          -- the language of the mail and of the pages the link opens
  invited_by  text NOT NULL,          -- who sent it: the CLI and its OS user
  created_at  timestamptz NOT NULL,
  expires_at  timestamptz NOT NULL,
  consumed_at timestamptz,            -- the account was created
  revoked_at  timestamptz             -- `idp users uninvite`, or replaced by a newer invitation
);
CREATE UNIQUE INDEX invitations_token_hash_key ON invitations (token_hash);
CREATE UNIQUE INDEX invitations_open_email_key ON invitations (lower(email)) WHERE consumed_at IS NULL AND revoked_at IS NULL;
CREATE INDEX invitations_expires_at_idx ON invitations (expires_at);
