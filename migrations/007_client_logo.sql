-- A logo per client for the sign-in pages, shown with the client's display name ("to continue to
-- <app>"), so that people see which application asks them to sign in. `idp clients add --logo-uri`
-- sets it; the operator module (idp/accounts/operator.ts) admits only an absolute https URL (http
-- for localhost only), without credentials, of at most 2048 characters. The length is checked here
-- too, so no other writer can put an unbounded string into every sign-in page. NULL: no logo.
ALTER TABLE clients ADD COLUMN logo_uri text;
ALTER TABLE clients ADD CONSTRAINT clients_logo_uri_length CHECK (logo_uri IS NULL OR char_length(logo_uri) <= 2048);
