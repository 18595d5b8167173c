// SQL for one_time_tokens: single-use tokens sent by mail (password reset and email verification
// links), stored only as SHA-256 hashes, used at most once (one atomic UPDATE), superseded by the
// next one of a purpose.
import type { Queryable } from "../db/database.ts";
import type { AuditEventName } from "./audit.ts";

export type TokenPurpose = "password_reset" | "email_verification";

/** A token as found by its hash, whatever its state, with the email of the person it is for. */
export type FoundToken = {
  id: string;
  purpose: TokenPurpose;
  userId: string;
  email: string;
  /** The person is disabled: the token cannot be used. */
  disabled: boolean;
  expiresAt: Date;
  consumedAt: Date | null;
  revokedAt: Date | null;
  locale: string;
  interactionUid: string | null;
};

/** Why a token cannot be used (any more). */
export type TokenState = "usable" | "expired" | "used" | "superseded" | "disabled";

type TokenRow = {
  id: string;
  purpose: TokenPurpose;
  user_id: string;
  email: string;
  disabled: boolean;
  expires_at: Date;
  consumed_at: Date | null;
  revoked_at: Date | null;
  locale: string;
  interaction_uid: string | null;
};

const toToken = (row: TokenRow): FoundToken => ({
  id: row.id,
  purpose: row.purpose,
  userId: row.user_id,
  email: row.email,
  disabled: row.disabled,
  expiresAt: row.expires_at,
  consumedAt: row.consumed_at,
  revokedAt: row.revoked_at,
  locale: row.locale,
  interactionUid: row.interaction_uid,
});

export function tokenState(token: Pick<FoundToken, "expiresAt" | "consumedAt" | "revokedAt" | "disabled">, now: Date): TokenState {
  if (token.consumedAt) return "used";
  if (token.disabled) return "disabled";
  if (token.revokedAt) return "superseded";
  if (token.expiresAt.getTime() <= now.getTime()) return "expired";
  return "usable";
}

/** A request for a token by email: everything decided before the database is asked. */
export type TokenRequest = {
  purpose: TokenPurpose;
  /** As typed; matched case-insensitively against registered, enabled users. */
  email: string;
  /** False during the resend cooldown: nothing is issued, the request is still recorded. */
  issue: boolean;
  tokenHash: Buffer;
  expiresAt: Date;
  locale: string;
  interactionUid: string | null;
  /** The mail that carries the token; recipient and user are the matched user's. */
  mail: { template: string; payload: Buffer; sendBefore: Date | null };
  /** The audit event recorded for every request (the user's id is filled in when one matched). */
  audit: { event: AuditEventName; ip: string | null; userAgent: string | null; details: Record<string, string | number | boolean | null> };
};

/** A token for a known person (an operator's request): stored, and their older ones of the purpose revoked. */
export type NewToken = {
  purpose: TokenPurpose;
  userId: string;
  tokenHash: Buffer;
  expiresAt: Date;
  locale: string;
  interactionUid: string | null;
};

// One statement whatever the email: find the person, revoke their open tokens of the purpose,
// store the new token's hash, queue its mail, and record the request. For an unknown email (or a
// disabled person, or during the cooldown) the same statement runs and only the audit row is
// written, so the answer takes the same single round trip either way.
const REQUEST_BY_EMAIL = `
  WITH target AS (
    SELECT id, email FROM users WHERE lower(email) = lower($2) AND NOT disabled AND $3::boolean
  ), revoked AS (
    UPDATE one_time_tokens SET revoked_at = $1
     WHERE purpose = $4 AND user_id IN (SELECT id FROM target) AND consumed_at IS NULL AND revoked_at IS NULL
  ), issued AS (
    INSERT INTO one_time_tokens (purpose, user_id, token_hash, created_at, expires_at, locale, interaction_uid)
    SELECT $4, id, $5, $1, $6, $7, $8 FROM target
    RETURNING id
  ), queued AS (
    INSERT INTO mail_outbox (template, recipient, locale, payload, user_id, created_at, send_before, next_attempt_at)
    SELECT $9, email, $7, $10, id, $1, $11, $1 FROM target
    RETURNING id
  )
  INSERT INTO audit_events (occurred_at, event, actor, user_id, email, ip, user_agent, details)
  SELECT $1, $12, 'anonymous', (SELECT id FROM target), $2, $13, $14,
         $15::jsonb || jsonb_build_object('mailed', EXISTS (SELECT 1 FROM queued))
  RETURNING (SELECT count(*) FROM issued)::int AS issued`;

// A user agent is attacker-controlled: keep enough to recognise it (as the audit store does).
const MAX_USER_AGENT = 512;

/** Single-use tokens (reset and verification links), stored only as SHA-256 hashes. */
export interface OneTimeTokenStore {
  /** Issues a token to the person with this email, if any (see REQUEST_BY_EMAIL); whether one was issued. */
  requestByEmail(request: TokenRequest): Promise<boolean>;
  /** Stores a token for a known person and revokes their open tokens of the purpose, in one statement. */
  issue(token: NewToken): Promise<void>;
  /** The token with this hash, in whatever state, without changing it. */
  find(purpose: TokenPurpose, tokenHash: Buffer): Promise<FoundToken | undefined>;
  /** Uses the token, atomically: the person's id for exactly one caller, undefined for every other. */
  consume(purpose: TokenPurpose, tokenHash: Buffer): Promise<string | undefined>;
  /** Revokes every open token of a purpose of one person; how many. */
  revokeOpen(userId: string, purpose: TokenPurpose): Promise<number>;
  /** Deletes tokens that expired before the cutoff; how many. */
  deleteExpiredBefore(cutoff: Date): Promise<number>;
}

export function createOneTimeTokenStore(db: Queryable, now: () => Date = () => new Date()): OneTimeTokenStore {
  return {
    /** Issues a token to the person with this email, if any (see REQUEST_BY_EMAIL); whether one was issued. */
    async requestByEmail(request: TokenRequest): Promise<boolean> {
      const { rows } = await db.query<{ issued: number }>(REQUEST_BY_EMAIL, [
        now(),
        request.email,
        request.issue,
        request.purpose,
        request.tokenHash,
        request.expiresAt,
        request.locale,
        request.interactionUid,
        request.mail.template,
        request.mail.payload,
        request.mail.sendBefore,
        request.audit.event,
        request.audit.ip,
        request.audit.userAgent?.slice(0, MAX_USER_AGENT) ?? null,
        JSON.stringify(request.audit.details),
      ]);
      return rows[0]!.issued > 0;
    },

    /** Stores a token for a known person and revokes their open tokens of the purpose, in one statement. */
    async issue(token: NewToken): Promise<void> {
      await db.query(
        `WITH revoked AS (
           UPDATE one_time_tokens SET revoked_at = $1
            WHERE purpose = $2 AND user_id = $3 AND consumed_at IS NULL AND revoked_at IS NULL
         )
         INSERT INTO one_time_tokens (purpose, user_id, token_hash, created_at, expires_at, locale, interaction_uid)
         VALUES ($2, $3, $4, $1, $5, $6, $7)`,
        [now(), token.purpose, token.userId, token.tokenHash, token.expiresAt, token.locale, token.interactionUid],
      );
    },

    /** The token with this hash, in whatever state, without changing it. */
    async find(purpose: TokenPurpose, tokenHash: Buffer): Promise<FoundToken | undefined> {
      const { rows } = await db.query<TokenRow>(
        `SELECT t.id, t.purpose, t.user_id, u.email, u.disabled, t.expires_at, t.consumed_at, t.revoked_at, t.locale, t.interaction_uid
           FROM one_time_tokens t JOIN users u ON u.id = t.user_id
          WHERE t.purpose = $1 AND t.token_hash = $2`,
        [purpose, tokenHash],
      );
      return rows[0] && toToken(rows[0]);
    },

    /**
     * Uses the token: exactly one caller gets its user id, and only while it is unused, not
     * superseded and not expired, and its person not disabled.
     */
    async consume(purpose: TokenPurpose, tokenHash: Buffer): Promise<string | undefined> {
      const { rows } = await db.query<{ user_id: string }>(
        `UPDATE one_time_tokens t SET consumed_at = $3
          WHERE t.purpose = $1 AND t.token_hash = $2 AND t.consumed_at IS NULL AND t.revoked_at IS NULL AND t.expires_at > $3
            AND EXISTS (SELECT 1 FROM users u WHERE u.id = t.user_id AND NOT u.disabled)
          RETURNING t.user_id`,
        [purpose, tokenHash, now()],
      );
      return rows[0]?.user_id;
    },

    /** Revokes every open token of a purpose of one person; how many. */
    async revokeOpen(userId: string, purpose: TokenPurpose): Promise<number> {
      const { rowCount } = await db.query(
        "UPDATE one_time_tokens SET revoked_at = $3 WHERE user_id = $1 AND purpose = $2 AND consumed_at IS NULL AND revoked_at IS NULL",
        [userId, purpose, now()],
      );
      return rowCount ?? 0;
    },

    /** Deletes tokens that expired before the cutoff; how many. */
    async deleteExpiredBefore(cutoff: Date): Promise<number> {
      const { rowCount } = await db.query("DELETE FROM one_time_tokens WHERE expires_at < $1", [cutoff]);
      return rowCount ?? 0;
    },
  };
}

