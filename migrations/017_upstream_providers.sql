-- Sign-in through upstream identity providers (idp/federation/): this IdP stays the one issuer a
-- Convex app trusts and brokers the sign-in at an organisation's directory or a social provider.
--
-- upstream_providers: added with `idp upstreams add`. The client secret (or, for Apple, the private
-- key its client secret JWTs are signed with) must be usable to sign in, so it cannot be hashed: it
-- is sealed (AES-256-GCM under a key derived from the cookie keys, as webhook secrets are).
--   kind           oidc (discovery, ID token) or github (OAuth 2 and its REST API); apple and
--                  microsoft are oidc with their preset's handling
--   trust_email    the provider's verified email links an account with the same verified email,
--                  updates the account's email, and its amr is carried into ours
--   allow_sign_up  a first sign-in without a matching account creates one
--   email_domains  home-realm discovery: an email typed on the sign-in page in one of these
--                  domains goes straight to this provider
--   options        preset details (Apple's team and key id; a GitHub Enterprise API base)
CREATE TABLE upstream_providers (
  id             text PRIMARY KEY,
  kind           text NOT NULL,
  issuer         text NOT NULL,
  client_id      text NOT NULL,
  client_secret  bytea,
  scopes         text NOT NULL,
  display_name   text NOT NULL,
  trust_email    boolean NOT NULL DEFAULT false,
  allow_sign_up  boolean NOT NULL DEFAULT false,
  email_domains  text[] NOT NULL DEFAULT '{}',
  enabled        boolean NOT NULL DEFAULT true,
  options        jsonb NOT NULL DEFAULT '{}',
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT upstream_providers_kind_known CHECK (kind IN ('oidc', 'github', 'microsoft', 'apple', 'google'))
);

-- federated_identities: who a person is at an upstream, (issuer, subject), linked to one of our
-- users. A returning person is found by that pair only, never by email. The upstream's last email,
-- name and picture are kept for the account page. Removing a provider keeps the links (its issuer
-- and subject still name the person if it is added again); removing the user removes them.
CREATE TABLE federated_identities (
  issuer        text NOT NULL,
  subject       text NOT NULL,
  user_id       text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  provider_id   text NOT NULL,
  email         text,
  name          text,
  picture       text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (issuer, subject)
);
CREATE INDEX federated_identities_user_idx ON federated_identities (user_id);
