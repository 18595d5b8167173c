-- What kind of application a client is, beyond confidential or public (secret_hash) and service:
--   web     a browser or server app whose redirect URIs are matched exactly (every client so far);
--   native  a mobile or desktop app (RFC 8252): public, PKCE, redirect URIs with a private-use
--           scheme, claimed https links, or loopback http whose port, registered without one, may
--           vary at each sign-in (RFC 8252 §7.3);
--   device  a command-line tool or input-constrained device (RFC 8628): public, signs in with the
--           device authorization grant, no redirect URIs.
-- `idp clients add --native` / `--device` set it; the operator module (idp/accounts/operator.ts)
-- validates the redirect URIs for each kind. The check keeps other writers to these three.
ALTER TABLE clients ADD COLUMN kind text NOT NULL DEFAULT 'web';
ALTER TABLE clients ADD CONSTRAINT clients_kind_known CHECK (kind IN ('web', 'native', 'device'));
