-- Audit retention: audit_events stays append-only, except that the retention cleanup
-- (idp/store/audit.ts expireBefore, when AUDIT_RETENTION_DAYS is set) may delete rows older than
-- the cutoff it declares for its own transaction in idp.audit_expire_before. Every other DELETE,
-- any UPDATE, and TRUNCATE are refused. (The trigger guards against mistakes in code and scripts;
-- whoever owns the table can still drop it.)
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  cutoff text := current_setting('idp.audit_expire_before', true);
BEGIN
  IF TG_OP = 'DELETE' AND cutoff IS NOT NULL AND cutoff <> '' AND OLD.occurred_at < cutoff::timestamptz THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit_events is append-only';
END;
$$;

CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
