-- A token request's writes (consume the code or refresh token, save the new tokens) in one round
-- trip: idp/store/oidc-payloads.ts calls this once per token request. One statement is one
-- transaction, so the writes land together or not at all. They are applied in order, exactly as
-- separate statements would be.
--
-- writes: a JSON array of
--   {"kind": "consume", "model": ..., "id": ...}
--   {"kind": "upsert", "model": ..., "id": ..., "payload": {...}, "expiresAt": ISO 8601 or null}
-- A consume whose row is already consumed (a concurrent request won) or gone raises SQLSTATE IDPC1
-- with the model as DETAIL, which undoes every write of the call. Never the id in the error: codes
-- and refresh tokens are secrets.
CREATE FUNCTION oidc_commit_token_writes(writes jsonb, consume_time timestamptz) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  w jsonb;
BEGIN
  FOR w IN SELECT value FROM jsonb_array_elements(writes) WITH ORDINALITY ORDER BY ordinality LOOP
    IF w->>'kind' = 'consume' THEN
      UPDATE oidc_payloads SET consumed_at = consume_time
       WHERE model = w->>'model' AND id = w->>'id' AND consumed_at IS NULL;
      IF NOT FOUND THEN
        RAISE EXCEPTION 'already consumed' USING ERRCODE = 'IDPC1', DETAIL = w->>'model';
      END IF;
    ELSIF w->>'kind' = 'upsert' THEN
      INSERT INTO oidc_payloads (model, id, payload, grant_id, uid, user_code, expires_at)
      VALUES (w->>'model', w->>'id', w->'payload', w->'payload'->>'grantId', w->'payload'->>'uid',
              w->'payload'->>'userCode', (w->>'expiresAt')::timestamptz)
      ON CONFLICT (model, id) DO UPDATE SET
        payload = excluded.payload, grant_id = excluded.grant_id, uid = excluded.uid,
        user_code = excluded.user_code, expires_at = excluded.expires_at;
    ELSE
      RAISE EXCEPTION 'unknown write kind %', w->>'kind';
    END IF;
  END LOOP;
END;
$$;
