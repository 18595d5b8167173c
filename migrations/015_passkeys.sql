-- Passkeys (WebAuthn, idp/accounts/passkeys.ts). A credential keeps what a later assertion is
-- checked against: its public key (COSE), the signature counter (a regression means a cloned
-- authenticator), and the RP ID it was created for (WEBAUTHN_RP_ID at registration: a credential
-- only works for that ID, so changing the setting orphans it rather than failing obscurely).
-- The device type says whether it is synced (multiDevice, `swk`) or bound to one device (`hwk`).
CREATE TABLE webauthn_credentials (
  id            text PRIMARY KEY,                       -- the credential ID, base64url
  user_id       text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  public_key    bytea NOT NULL,
  counter       bigint NOT NULL DEFAULT 0 CHECK (counter >= 0),
  transports    text[] NOT NULL DEFAULT '{}',
  rp_id         text NOT NULL,
  aaguid        text NOT NULL,
  device_type   text NOT NULL CHECK (device_type IN ('singleDevice', 'multiDevice')),
  backed_up     boolean NOT NULL DEFAULT false,
  name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  created_at    timestamptz NOT NULL,
  last_used_at  timestamptz
);
CREATE INDEX webauthn_credentials_user ON webauthn_credentials (user_id);

-- Challenges are single-use and short-lived: one atomic UPDATE ... WHERE consumed_at IS NULL
-- consumes one. A sign-in's is bound to its interaction (and, as a second factor, to the person
-- of the first); a registration's to the signed-in person.
CREATE TABLE webauthn_challenges (
  challenge        text PRIMARY KEY,                    -- base64url, as clientDataJSON carries it
  purpose          text NOT NULL CHECK (purpose IN ('authentication', 'registration')),
  interaction_uid  text,
  user_id          text REFERENCES users (id) ON DELETE CASCADE,
  created_at       timestamptz NOT NULL,
  expires_at       timestamptz NOT NULL,
  consumed_at      timestamptz,
  CHECK (purpose = 'authentication' OR user_id IS NOT NULL)
);
CREATE INDEX webauthn_challenges_expiry ON webauthn_challenges (expires_at);
