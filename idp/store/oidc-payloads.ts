// SQL for oidc_payloads: oidc-provider's sessions, interactions, codes, tokens and grants.
import type { Queryable } from "../db/database.ts";

export type StoredPayload = Record<string, unknown> & {
  grantId?: string;
  uid?: string;
  userCode?: string;
  consumed?: number;
};

type PayloadRow = { payload: StoredPayload; consumed_at: Date | null };

function withConsumed(row: PayloadRow | undefined): (StoredPayload & { consumedAt?: Date }) | undefined {
  if (!row) return undefined;
  if (!row.consumed_at) return row.payload;
  return { ...row.payload, consumed: Math.floor(row.consumed_at.getTime() / 1000), consumedAt: row.consumed_at };
}

// Rows past expires_at are invisible even before the cleanup deletes them.
const LIVE = "(expires_at IS NULL OR expires_at > $now)";

export function createOidcPayloadStore(db: Queryable, now: () => Date = () => new Date()) {
  const find = async (model: string, column: "id" | "uid" | "user_code", value: string) => {
    const { rows } = await db.query<PayloadRow>(
      `SELECT payload, consumed_at FROM oidc_payloads WHERE model = $1 AND ${column} = $2 AND ${LIVE.replace("$now", "$3")}`,
      [model, value, now()],
    );
    return withConsumed(rows[0]);
  };

  return {
    async upsert(model: string, id: string, payload: StoredPayload, expiresInSeconds: number | undefined): Promise<void> {
      const expiresAt = expiresInSeconds ? new Date(now().getTime() + expiresInSeconds * 1000) : null;
      await db.query(
        `INSERT INTO oidc_payloads (model, id, payload, grant_id, uid, user_code, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (model, id) DO UPDATE SET
           payload = excluded.payload, grant_id = excluded.grant_id, uid = excluded.uid,
           user_code = excluded.user_code, expires_at = excluded.expires_at`,
        [model, id, payload, payload.grantId ?? null, payload.uid ?? null, payload.userCode ?? null, expiresAt],
      );
    },

    find: (model: string, id: string) => find(model, "id", id),
    findByUid: (model: string, uid: string) => find(model, "uid", uid),
    findByUserCode: (model: string, userCode: string) => find(model, "user_code", userCode),

    /** Marks a single-use artefact consumed; exactly one caller gets true. */
    async consume(model: string, id: string): Promise<boolean> {
      const { rowCount } = await db.query(
        "UPDATE oidc_payloads SET consumed_at = $3 WHERE model = $1 AND id = $2 AND consumed_at IS NULL",
        [model, id, now()],
      );
      return rowCount === 1;
    },

    async destroy(model: string, id: string): Promise<void> {
      await db.query("DELETE FROM oidc_payloads WHERE model = $1 AND id = $2", [model, id]);
    },

    async revokeByGrantId(grantId: string): Promise<void> {
      await db.query("DELETE FROM oidc_payloads WHERE grant_id = $1", [grantId]);
    },

    /** Removes everything issued to a client: its grants and every token and code under them. */
    async revokeByClientId(clientId: string): Promise<void> {
      await db.query(
        `DELETE FROM oidc_payloads WHERE payload->>'clientId' = $1
            OR grant_id IN (SELECT id FROM oidc_payloads WHERE model = 'Grant' AND payload->>'clientId' = $1)`,
        [clientId],
      );
    },

    /** Deletes rows past their expiry; returns how many. */
    async deleteExpired(): Promise<number> {
      const { rowCount } = await db.query("DELETE FROM oidc_payloads WHERE expires_at <= $1", [now()]);
      return rowCount ?? 0;
    },
  };
}

export type OidcPayloadStore = ReturnType<typeof createOidcPayloadStore>;
