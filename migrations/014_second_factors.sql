-- Second factors (issue 11): TOTP, recovery codes, the sign-ins waiting for their second factor,
-- and clients that require one.
--
-- totp_factors: one authenticator app per person. The seed is sealed (AES-256-GCM under a key
-- derived from a cookie key, the key's id inside the sealed value: idp/keys/secret-box.ts), never
-- stored in the clear. confirmed_at is NULL while the person has not yet typed a code from it
-- (enrolment). last_used_step is the 30-second step of the last accepted code: a code is accepted
-- only by the one UPDATE that moves it forward, so no code works twice, even concurrently.
CREATE TABLE totp_factors (
  user_id        text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  sealed_secret  bytea NOT NULL,
  confirmed_at   timestamptz,
  last_used_step bigint NOT NULL DEFAULT 0,
  created_at     timestamptz NOT NULL DEFAULT now()
);

-- recovery_codes: ten single-use codes, only their SHA-256 (each code carries 80 random bits, so
-- a digest cannot be searched offline). Used by one UPDATE ... WHERE used_at IS NULL RETURNING;
-- regenerating deletes the old set.
CREATE TABLE recovery_codes (
  user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  code_hash  bytea NOT NULL,
  created_at timestamptz NOT NULL,
  used_at    timestamptz,
  PRIMARY KEY (user_id, code_hash)
);

-- pending_sign_ins: a first factor that does not meet the MFA policy yet, bound to the interaction
-- (its uid) in which it was proved; the second factor must finish it for the same account. Short-lived.
CREATE TABLE pending_sign_ins (
  interaction_uid text PRIMARY KEY,
  user_id         text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  amr             text[] NOT NULL,
  expires_at      timestamptz NOT NULL
);
CREATE INDEX pending_sign_ins_expires_at ON pending_sign_ins (expires_at);

-- `idp clients add --require-mfa`: everyone signing in to this client needs a second factor.
ALTER TABLE clients ADD COLUMN require_mfa boolean NOT NULL DEFAULT false;
