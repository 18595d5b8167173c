-- An append-only record of who did what: sign-ins and their failures, lockouts, password, user,
-- client and key changes, token revocations. Rows are never updated or deleted (a trigger refuses),
-- and never hold a secret.
CREATE TABLE audit_events (
  id          bigserial PRIMARY KEY,
  occurred_at timestamptz NOT NULL DEFAULT now(),
  event       text NOT NULL,        -- e.g. sign_in.failed
  actor       text NOT NULL,        -- who acted: "user:<id>", "cli", "client:<id>", "anonymous"
  user_id     text,                 -- the person concerned, if any
  email       text,                 -- as typed or stored; kept even when no such user exists
  client_id   text,
  ip          text,
  user_agent  text,
  details     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at);
CREATE INDEX audit_events_email_idx ON audit_events (lower(email), occurred_at) WHERE email IS NOT NULL;
CREATE INDEX audit_events_user_id_idx ON audit_events (user_id, occurred_at) WHERE user_id IS NOT NULL;

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only';
END;
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
