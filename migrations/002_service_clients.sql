-- Clients that are servers, not people's apps: they use the client_credentials grant to get
-- short-lived JWT access tokens for Convex, and have no redirect URIs.
ALTER TABLE clients ADD COLUMN service boolean NOT NULL DEFAULT false;
ALTER TABLE clients ADD CONSTRAINT clients_service_is_confidential CHECK (NOT service OR secret_hash IS NOT NULL);
