// SQL for oidc_payloads: oidc-provider's sessions, interactions, codes, tokens and grants.
import type { Queryable } from "../db/database.ts";

export type StoredPayload = Record<string, unknown> & {
  grantId?: string;
  uid?: string;
  userCode?: string;
  consumed?: number;
};

/** A stored payload as found: `consumed` (epoch seconds) and the exact `consumedAt` once consumed. */
export type FoundPayload = StoredPayload & { consumedAt?: Date };

type PayloadRow = { payload: StoredPayload; consumed_at: Date | null };

function withConsumed(row: PayloadRow | undefined): FoundPayload | undefined {
  if (!row) return undefined;
  if (!row.consumed_at) return row.payload;
  return { ...row.payload, consumed: Math.floor(row.consumed_at.getTime() / 1000), consumedAt: row.consumed_at };
}

/** One write of a token request, committed with the others by commitWrites. */
export type PayloadWrite =
  | { kind: "consume"; model: string; id: string }
  | { kind: "upsert"; model: string; id: string; payload: StoredPayload; expiresIn: number | undefined };

/**
 * A code or refresh token with the rows oidc-provider reads right after it at the token endpoint:
 * the grant it names and, for one that ends with the session, that session. `grant` and `session`
 * are there when the token asks for them (found or not: undefined `found` means no live row).
 */
export type GrantSourceRows = {
  source: FoundPayload | undefined;
  grant?: { id: string; found: FoundPayload | undefined };
  session?: { uid: string; found: FoundPayload | undefined };
};

type GrantSourceRow = PayloadRow & {
  grant_payload: StoredPayload | null;
  grant_consumed_at: Date | null;
  session_payload: StoredPayload | null;
  session_consumed_at: Date | null;
};

/** Raised by oidc_commit_token_writes (migrations/005) when a consume finds its row already used. */
const CONSUME_REFUSED_SQLSTATE = "IDPC1";

// Rows past expires_at are invisible even before the cleanup deletes them.
const live = (table: string, now: string) => `(${table}.expires_at IS NULL OR ${table}.expires_at > ${now})`;

// The session lookup mirrors oidc-provider's checkSessionBinding: only a token with
// expiresWithSession makes it look up the session by the token's sessionUid.
const FIND_GRANT_SOURCE = `
  SELECT t.payload, t.consumed_at,
         g.payload AS grant_payload, g.consumed_at AS grant_consumed_at,
         s.payload AS session_payload, s.consumed_at AS session_consumed_at
    FROM oidc_payloads t
    LEFT JOIN LATERAL (
      SELECT g.payload, g.consumed_at FROM oidc_payloads g
       WHERE g.model = 'Grant' AND g.id = t.payload->>'grantId' AND ${live("g", "$3")}
    ) g ON true
    LEFT JOIN LATERAL (
      SELECT s.payload, s.consumed_at FROM oidc_payloads s
       WHERE t.payload->'expiresWithSession' = 'true'::jsonb
         AND s.model = 'Session' AND s.uid = t.payload->>'sessionUid' AND ${live("s", "$3")}
       LIMIT 1
    ) s ON true
   WHERE t.model = $1 AND t.id = $2 AND ${live("t", "$3")}`;

/**
 * oidc-provider's state (sessions, interactions, codes, tokens, grants) as the adapter and the
 * operator use it. Rows past their expiry are invisible to every read even before deleteExpired.
 */
export interface OidcPayloadStore {
  /** Inserts or replaces the payload at (model, id); expiresInSeconds undefined: never expires. */
  upsert(model: string, id: string, payload: StoredPayload, expiresInSeconds: number | undefined): Promise<void>;
  find(model: string, id: string): Promise<FoundPayload | undefined>;
  findByUid(model: string, uid: string): Promise<FoundPayload | undefined>;
  findByUserCode(model: string, userCode: string): Promise<FoundPayload | undefined>;
  /** find(model, id) of a code or refresh token, plus its grant and session in the same query. */
  findGrantSource(model: string, id: string): Promise<GrantSourceRows>;
  /** Marks a single-use artefact consumed; exactly one caller gets true. */
  consume(model: string, id: string): Promise<boolean>;
  /**
   * Applies a token request's writes in order, in one statement: one round trip, and all of them
   * or none. A consume that finds its row already used (or gone) undoes the whole call; its model
   * is returned then. Exactly one of several concurrent consumes of one row succeeds.
   */
  commitWrites(writes: PayloadWrite[]): Promise<{ consumeRefused: string } | undefined>;
  destroy(model: string, id: string): Promise<void>;
  revokeByGrantId(grantId: string): Promise<void>;
  /** Removes everything issued to a client: its grants and every token and code under them. */
  revokeByClientId(clientId: string): Promise<void>;
  /**
   * Signs a person out everywhere: deletes their sessions and grants, and every code and token
   * issued under those grants (refresh and access tokens). Returns how many rows went.
   */
  revokeByAccountId(accountId: string): Promise<number>;
  // The account page's view of a person's sign-ins (account/sessions.ts).
  /** A person's live sessions or grants (payloads), newest first. */
  listByAccountId(model: "Session" | "Grant", accountId: string): Promise<StoredPayload[]>;
  /**
   * Signs a person out of some sessions: one (`uid`), or every one but the current (`exceptUid`).
   * The sessions go with the grants they hold and every code and token under those grants; "every
   * one but" also takes the grants no session holds any more (offline access). The caller runs the
   * statements in one transaction. Returns how many rows went.
   */
  revokeSessions(accountId: string, which: { uid: string } | { exceptUid: string }): Promise<number>;
  /** Revokes one grant of a person (an application signed out), with every code and token under it. */
  revokeGrant(accountId: string, grantId: string): Promise<boolean>;
  /** Deletes rows past their expiry; returns how many. */
  deleteExpired(): Promise<number>;
}

export function createOidcPayloadStore(db: Queryable, now: () => Date = () => new Date()): OidcPayloadStore {
  const find = async (model: string, column: "id" | "uid" | "user_code", value: string) => {
    const { rows } = await db.query<PayloadRow>(
      `SELECT payload, consumed_at FROM oidc_payloads WHERE model = $1 AND ${column} = $2 AND ${live("oidc_payloads", "$3")}`,
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

    async findGrantSource(model: string, id: string): Promise<GrantSourceRows> {
      const { rows } = await db.query<GrantSourceRow>(FIND_GRANT_SOURCE, [model, id, now()]);
      const row = rows[0];
      if (!row) return { source: undefined };
      const source = withConsumed(row);
      const { grantId, sessionUid, expiresWithSession } = row.payload;
      const found = (payload: StoredPayload | null, consumedAt: Date | null) =>
        withConsumed(payload ? { payload, consumed_at: consumedAt } : undefined);
      return {
        source,
        ...(typeof grantId === "string" ? { grant: { id: grantId, found: found(row.grant_payload, row.grant_consumed_at) } } : {}),
        ...(expiresWithSession === true && typeof sessionUid === "string"
          ? { session: { uid: sessionUid, found: found(row.session_payload, row.session_consumed_at) } }
          : {}),
      };
    },

    async consume(model: string, id: string): Promise<boolean> {
      const { rowCount } = await db.query(
        "UPDATE oidc_payloads SET consumed_at = $3 WHERE model = $1 AND id = $2 AND consumed_at IS NULL",
        [model, id, now()],
      );
      return rowCount === 1;
    },

    async commitWrites(writes: PayloadWrite[]): Promise<{ consumeRefused: string } | undefined> {
      if (writes.length === 0) return undefined;
      const at = now();
      const encoded = writes.map((write) =>
        write.kind === "consume"
          ? write
          : {
              kind: write.kind,
              model: write.model,
              id: write.id,
              payload: write.payload,
              expiresAt: write.expiresIn ? new Date(at.getTime() + write.expiresIn * 1000).toISOString() : null,
            },
      );
      try {
        await db.query("SELECT oidc_commit_token_writes($1::jsonb, $2)", [JSON.stringify(encoded), at]);
        return undefined;
      } catch (error) {
        const { code, detail } = error as { code?: unknown; detail?: unknown };
        if (code === CONSUME_REFUSED_SQLSTATE) return { consumeRefused: String(detail) };
        throw error;
      }
    },

    async destroy(model: string, id: string): Promise<void> {
      await db.query("DELETE FROM oidc_payloads WHERE model = $1 AND id = $2", [model, id]);
    },

    async revokeByGrantId(grantId: string): Promise<void> {
      await db.query("DELETE FROM oidc_payloads WHERE grant_id = $1", [grantId]);
    },

    async revokeByClientId(clientId: string): Promise<void> {
      // Two statements, as in revokeByAccountId; the caller runs them in one transaction.
      await db.query(`DELETE FROM oidc_payloads WHERE grant_id IN (SELECT id FROM oidc_payloads WHERE model = 'Grant' AND payload->>'clientId' = $1)`, [
        clientId,
      ]);
      await db.query(`DELETE FROM oidc_payloads WHERE payload->>'clientId' = $1`, [clientId]);
    },

    async revokeByAccountId(accountId: string): Promise<number> {
      // Two statements, not one with OR: an IN (subquery) under an OR cannot use the grant_id
      // index, and the DELETE would read the whole table. The caller runs them in one transaction.
      const issued = await db.query(
        `DELETE FROM oidc_payloads
          WHERE grant_id IN (SELECT id FROM oidc_payloads WHERE model = 'Grant' AND payload->>'accountId' = $1)`,
        [accountId],
      );
      const sessions = await db.query(`DELETE FROM oidc_payloads WHERE model IN ('Session', 'Grant') AND payload->>'accountId' = $1`, [accountId]);
      return (issued.rowCount ?? 0) + (sessions.rowCount ?? 0);
    },

    async listByAccountId(model: "Session" | "Grant", accountId: string): Promise<StoredPayload[]> {
      const { rows } = await db.query<{ payload: StoredPayload }>(
        `SELECT payload FROM oidc_payloads WHERE model = $1 AND payload->>'accountId' = $2 AND ${live("oidc_payloads", "$3")}
          ORDER BY (payload->>'iat')::bigint DESC NULLS LAST`,
        [model, accountId, now()],
      );
      return rows.map((row) => row.payload);
    },

    async revokeSessions(accountId: string, which: { uid: string } | { exceptUid: string }): Promise<number> {
      const keptUid = "exceptUid" in which ? which.exceptUid : which.uid;
      const { rows } = await db.query<{ authorizations: Record<string, { grantId?: string }> | null }>(
        `SELECT payload->'authorizations' AS authorizations FROM oidc_payloads WHERE model = 'Session' AND uid = $1 AND payload->>'accountId' = $2`,
        [keptUid, accountId],
      );
      const named = Object.values(rows[0]?.authorizations ?? {})
        .map((authorization) => authorization.grantId)
        .filter((id): id is string => typeof id === "string");
      // One session: its grants. All but one: every grant of the person but the kept session's.
      const grants = "uid" in which ? "id = ANY($2::text[])" : "NOT (id = ANY($2::text[]))";
      const issued = await db.query(
        `DELETE FROM oidc_payloads WHERE grant_id IN (SELECT id FROM oidc_payloads WHERE model = 'Grant' AND payload->>'accountId' = $1 AND ${grants})`,
        [accountId, named],
      );
      const granted = await db.query(`DELETE FROM oidc_payloads WHERE model = 'Grant' AND payload->>'accountId' = $1 AND ${grants}`, [accountId, named]);
      const sessions = await db.query(
        `DELETE FROM oidc_payloads WHERE model = 'Session' AND payload->>'accountId' = $1 AND ${"uid" in which ? "uid = $2" : "uid <> $2"}`,
        [accountId, keptUid],
      );
      return (issued.rowCount ?? 0) + (granted.rowCount ?? 0) + (sessions.rowCount ?? 0);
    },

    async revokeGrant(accountId: string, grantId: string): Promise<boolean> {
      const granted = await db.query(`DELETE FROM oidc_payloads WHERE model = 'Grant' AND id = $1 AND payload->>'accountId' = $2`, [grantId, accountId]);
      if (!granted.rowCount) return false;
      await db.query("DELETE FROM oidc_payloads WHERE grant_id = $1", [grantId]);
      return true;
    },

    async deleteExpired(): Promise<number> {
      const { rowCount } = await db.query("DELETE FROM oidc_payloads WHERE expires_at <= $1", [now()]);
      return rowCount ?? 0;
    },
  };
}
