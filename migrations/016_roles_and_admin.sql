-- Administration (issue 13): roles per person, which clients carry them in ID tokens, and what a
-- service client's tokens may do in the admin API.
--   users.roles         role names an operator gives (`idp users roles`, the admin API); the `admin`
--                       role opens the admin console. Tokens carry them as the `roles` claim.
--   clients.roles_claim whether this client's ID tokens carry `roles` (`idp clients add --roles-claim`):
--                       apps that do not check roles are not told them.
--   clients.scopes      the scopes a service client may hold (`--scopes admin:users:read,...`); a
--                       client_credentials request without `scope` gets all of them.
--   invitations.roles   the roles an invited person gets when they accept.
ALTER TABLE users ADD COLUMN roles text[] NOT NULL DEFAULT '{}';
ALTER TABLE clients ADD COLUMN roles_claim boolean NOT NULL DEFAULT false;
ALTER TABLE clients ADD COLUMN scopes text[] NOT NULL DEFAULT '{}';
ALTER TABLE invitations ADD COLUMN roles text[] NOT NULL DEFAULT '{}';
-- The admin API lists users in (created_at, id) order with a keyset cursor: pages never skip or
-- repeat a user while others are added.
CREATE INDEX users_created_at_id_idx ON users (created_at, id);
