// SQL for audit_events: append and read, and the retention cleanup (the table refuses every other
// update and delete).
import type { Queryable } from "../db/database.ts";

/** Every event the IdP records; details never carry passwords, tokens, secrets or cookies. */
export type AuditEventName =
  | "sign_in.succeeded"
  | "sign_in.failed"
  | "sign_out.succeeded"
  | "account.locked"
  | "account.unlocked"
  | "password.changed"
  | "password.change_failed"
  | "sessions.revoked"
  | "password.reset_requested"
  | "password.reset_failed"
  | "sign_in.code_requested"
  | "sign_in.link_approved"
  | "sign_up.requested"
  | "sign_up.failed"
  | "email.verification_sent"
  | "email.verified"
  | "user.created"
  | "user.invited"
  | "user.invitation_revoked"
  | "user.disabled"
  | "user.enabled"
  | "user.phone_changed"
  | "user.deleted"
  | "user.roles_changed"
  | "user.updated"
  | "user.factors_reset"
  | "user.sessions_revoked"
  | "client.updated"
  | "webhook.added"
  | "webhook.removed"
  | "upstream.added"
  | "upstream.removed"
  | "upstream.disabled"
  | "upstream.enabled"
  | "identity.linked"
  | "identity.unlinked"
  | "client.created"
  | "client.removed"
  | "key.generated"
  | "token.revoked"
  | "grant.revoked"
  | "audit.expired"
  // Second factors (accounts/second-factors.ts, accounts/security-notices.ts).
  | "mfa.totp_enrolled"
  | "mfa.totp_removed"
  | "mfa.recovery_codes_regenerated"
  | "mfa.recovery_code_used"
  | "mfa.reset"
  | "mfa.failed"
  // Passkeys (accounts/passkeys.ts).
  | "passkey.added"
  | "passkey.renamed"
  | "passkey.removed"
  | "passkey.counter_regressed";

export type AuditEvent = {
  event: AuditEventName;
  actor: string;
  userId?: string | null;
  email?: string | null;
  clientId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  details?: Record<string, string | number | boolean | null>;
};

export type StoredAuditEvent = Required<Omit<AuditEvent, "details">> & {
  id: string;
  occurredAt: Date;
  details: Record<string, string | number | boolean | null>;
};

// Named, never *: prepared statements must keep their result columns when a migration adds one.
const AUDIT_COLUMNS = "id, occurred_at, event, actor, user_id, email, client_id, ip, user_agent, details";

type AuditRow = {
  id: string;
  occurred_at: Date;
  event: AuditEventName;
  actor: string;
  user_id: string | null;
  email: string | null;
  client_id: string | null;
  ip: string | null;
  user_agent: string | null;
  details: Record<string, string | number | boolean | null>;
};

const toEvent = (row: AuditRow): StoredAuditEvent => ({
  id: row.id,
  occurredAt: row.occurred_at,
  event: row.event,
  actor: row.actor,
  userId: row.user_id,
  email: row.email,
  clientId: row.client_id,
  ip: row.ip,
  userAgent: row.user_agent,
  details: row.details,
});

// A user agent is attacker-controlled: keep enough to recognise it, not a megabyte.
const MAX_USER_AGENT = 512;

/** The audit trail's contract: append, read, and expire by age (nothing else may change a row). */
export interface AuditStore {
  /** Appends one event, timed by the store's clock. */
  record(event: AuditEvent): Promise<void>;
  /**
   * The most recent `limit` events (default 1000), oldest first. `email` matches the event's email or
   * the email of its user, case-insensitively, or a user id (the `sub`) exactly.
   */
  list(filter?: { email?: string; since?: Date; limit?: number }): Promise<StoredAuditEvent[]>;
  /**
   * A page of events, newest first (by id: the order they were written), `limit` at most, before the
   * event `before` (a cursor: an id). Every filter narrows: the event name, the actor, the user id, the
   * client id, the email (case-insensitively), and a time range [since, until). Events written
   * meanwhile never make another skip or repeat.
   */
  query(filter: AuditQuery): Promise<{ events: StoredAuditEvent[]; next: string | undefined }>;
  /**
   * Retention: deletes the events that occurred before `cutoff` and records how many went, as an
   * `audit.expired` event (none when nothing was old enough); returns the count.
   */
  expireBefore(cutoff: Date): Promise<number>;
}

export type AuditQuery = {
  event?: string;
  actor?: string;
  userId?: string;
  clientId?: string;
  email?: string;
  since?: Date;
  until?: Date;
  before?: string;
  limit: number;
};

export function createAuditStore(db: Queryable, now: () => Date = () => new Date()): AuditStore {
  return {
    async record(event: AuditEvent): Promise<void> {
      await db.query(
        `INSERT INTO audit_events (occurred_at, event, actor, user_id, email, client_id, ip, user_agent, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [
          now(),
          event.event,
          event.actor,
          event.userId ?? null,
          event.email ?? null,
          event.clientId ?? null,
          event.ip ?? null,
          event.userAgent?.slice(0, MAX_USER_AGENT) ?? null,
          event.details ?? {},
        ],
      );
    },

    async list(filter: { email?: string; since?: Date; limit?: number } = {}): Promise<StoredAuditEvent[]> {
      const { rows } = await db.query<AuditRow>(
        `SELECT ${AUDIT_COLUMNS} FROM (
           SELECT ${AUDIT_COLUMNS} FROM audit_events
           WHERE ($1::text IS NULL OR lower(email) = lower($1) OR user_id = $1
                  OR user_id IN (SELECT id FROM users WHERE lower(email) = lower($1)))
             AND ($2::timestamptz IS NULL OR occurred_at >= $2)
           ORDER BY occurred_at DESC, id DESC
           LIMIT $3
         ) recent ORDER BY occurred_at, id`,
        [filter.email ?? null, filter.since ?? null, filter.limit ?? 1000],
      );
      return rows.map(toEvent);
    },

    async query(filter) {
      const { rows } = await db.query<AuditRow>(
        `SELECT ${AUDIT_COLUMNS} FROM audit_events
         WHERE ($1::text IS NULL OR event = $1) AND ($2::text IS NULL OR actor = $2)
           AND ($3::text IS NULL OR user_id = $3) AND ($4::text IS NULL OR client_id = $4)
           AND ($5::text IS NULL OR lower(email) = lower($5))
           AND ($6::timestamptz IS NULL OR occurred_at >= $6) AND ($7::timestamptz IS NULL OR occurred_at < $7)
           AND ($8::bigint IS NULL OR id < $8)
         ORDER BY id DESC
         LIMIT $9`,
        [
          filter.event ?? null,
          filter.actor ?? null,
          filter.userId ?? null,
          filter.clientId ?? null,
          filter.email ?? null,
          filter.since ?? null,
          filter.until ?? null,
          filter.before ?? null,
          filter.limit + 1,
        ],
      );
      const events = rows.slice(0, filter.limit).map(toEvent);
      return { events, next: rows.length > filter.limit ? events.at(-1)?.id : undefined };
    },

    // One statement: it first declares the cutoff for its own transaction (set_config(..., true)),
    // the only thing that lets the append-only trigger (migration 006) allow a delete, and only of
    // older rows.
    async expireBefore(cutoff: Date): Promise<number> {
      const { rows } = await db.query<{ count: number }>(
        `WITH allowed AS (
           SELECT set_config('idp.audit_expire_before', $1::timestamptz::text, true)
         ), expired AS (
           DELETE FROM audit_events WHERE occurred_at < $1 AND EXISTS (SELECT 1 FROM allowed) RETURNING 1
         ), counted AS (
           SELECT count(*)::int AS n FROM expired
         )
         INSERT INTO audit_events (occurred_at, event, actor, details)
         SELECT $2, 'audit.expired', 'system', jsonb_build_object('before', $1::timestamptz, 'count', n) FROM counted WHERE n > 0
         RETURNING (details->>'count')::int AS count`,
        [cutoff, now()],
      );
      return rows[0]?.count ?? 0;
    },
  };
}
