// SQL for second factors (migrations/014_second_factors.sql): TOTP seeds (sealed), recovery code
// digests, and the sign-ins waiting for their second factor. Every single-use thing is used by one
// UPDATE that only one caller can win.
import type { Queryable } from "../db/database.ts";

export type TotpFactor = { userId: string; sealedSecret: Buffer; confirmedAt: Date | null; lastUsedStep: number; createdAt: Date };

export type PendingSignIn = { interactionUid: string; userId: string; amr: string[]; expiresAt: Date };

type TotpRow = { user_id: string; sealed_secret: Buffer; confirmed_at: Date | null; last_used_step: string; created_at: Date };

const toTotp = (row: TotpRow): TotpFactor => ({
  userId: row.user_id,
  sealedSecret: row.sealed_secret,
  confirmedAt: row.confirmed_at,
  lastUsedStep: Number(row.last_used_step),
  createdAt: row.created_at,
});

export interface SecondFactorStore {
  /** The person's authenticator app, confirmed or still being set up. */
  findTotp(userId: string): Promise<TotpFactor | undefined>;
  /** Starts (or restarts) setting up an app; a confirmed one is kept: false then. */
  beginTotp(userId: string, sealedSecret: Buffer): Promise<boolean>;
  /**
   * Confirms the app being set up with the step of the code that confirmed it: only the seed the code
   * was checked against, begun after `begunAfter`; false otherwise (none, replaced, or expired).
   */
  confirmTotp(userId: string, step: number, sealedSecret: Buffer, begunAfter: Date): Promise<boolean>;
  /** Accepts a code of `step`: only when it is later than the last one accepted (one winner). */
  advanceTotpStep(userId: string, step: number): Promise<boolean>;
  /** Seals a seed again (under the current key), only if it is still the one read. */
  resealTotp(userId: string, from: Buffer, to: Buffer): Promise<void>;
  /** Removes the app; whether there was a confirmed one. */
  removeTotp(userId: string): Promise<boolean>;
  /** Replaces every recovery code of the person with these digests. */
  replaceRecoveryCodes(userId: string, hashes: Buffer[]): Promise<void>;
  /** Uses a recovery code: true for the one caller that used it. */
  useRecoveryCode(userId: string, hash: Buffer): Promise<boolean>;
  /** How many recovery codes are left unused. */
  recoveryCodesLeft(userId: string): Promise<number>;
  removeRecoveryCodes(userId: string): Promise<number>;
  savePending(pending: PendingSignIn): Promise<void>;
  /** The pending sign-in of an interaction, while it has not expired. */
  findPending(interactionUid: string): Promise<PendingSignIn | undefined>;
  deletePending(interactionUid: string): Promise<void>;
  deleteExpiredPending(): Promise<number>;
}

export function createSecondFactorStore(db: Queryable, now: () => Date = () => new Date()): SecondFactorStore {
  return {
    async findTotp(userId) {
      const { rows } = await db.query<TotpRow>("SELECT user_id, sealed_secret, confirmed_at, last_used_step, created_at FROM totp_factors WHERE user_id = $1", [userId]);
      return rows[0] && toTotp(rows[0]);
    },

    async beginTotp(userId, sealedSecret) {
      const { rowCount } = await db.query(
        `INSERT INTO totp_factors (user_id, sealed_secret, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (user_id) DO UPDATE SET sealed_secret = EXCLUDED.sealed_secret, created_at = EXCLUDED.created_at, last_used_step = 0
         WHERE totp_factors.confirmed_at IS NULL`,
        [userId, sealedSecret, now()],
      );
      return rowCount === 1;
    },

    async confirmTotp(userId, step, sealedSecret, begunAfter) {
      const { rowCount } = await db.query(
        `UPDATE totp_factors SET confirmed_at = $2, last_used_step = $3
         WHERE user_id = $1 AND confirmed_at IS NULL AND sealed_secret = $4 AND created_at > $5 RETURNING user_id`,
        [userId, now(), step, sealedSecret, begunAfter],
      );
      return rowCount === 1;
    },

    async advanceTotpStep(userId, step) {
      const { rowCount } = await db.query(
        "UPDATE totp_factors SET last_used_step = $2 WHERE user_id = $1 AND confirmed_at IS NOT NULL AND last_used_step < $2 RETURNING user_id",
        [userId, step],
      );
      return rowCount === 1;
    },

    async resealTotp(userId, from, to) {
      await db.query("UPDATE totp_factors SET sealed_secret = $3 WHERE user_id = $1 AND sealed_secret = $2", [userId, from, to]);
    },

    async removeTotp(userId) {
      const { rows } = await db.query<{ confirmed: boolean }>("DELETE FROM totp_factors WHERE user_id = $1 RETURNING confirmed_at IS NOT NULL AS confirmed", [userId]);
      return rows[0]?.confirmed ?? false;
    },

    async replaceRecoveryCodes(userId, hashes) {
      await db.query("DELETE FROM recovery_codes WHERE user_id = $1", [userId]);
      await db.query(
        "INSERT INTO recovery_codes (user_id, code_hash, created_at) SELECT $1, hash, $3 FROM unnest($2::bytea[]) AS hash",
        [userId, hashes, now()],
      );
    },

    async useRecoveryCode(userId, hash) {
      const { rowCount } = await db.query(
        "UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL RETURNING user_id",
        [userId, hash, now()],
      );
      return rowCount === 1;
    },

    async recoveryCodesLeft(userId) {
      const { rows } = await db.query<{ left: number }>("SELECT count(*)::int AS left FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL", [userId]);
      return rows[0]!.left;
    },

    async removeRecoveryCodes(userId) {
      const { rowCount } = await db.query("DELETE FROM recovery_codes WHERE user_id = $1", [userId]);
      return rowCount ?? 0;
    },

    async savePending(pending) {
      await db.query(
        `INSERT INTO pending_sign_ins (interaction_uid, user_id, amr, expires_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (interaction_uid) DO UPDATE SET user_id = EXCLUDED.user_id, amr = EXCLUDED.amr, expires_at = EXCLUDED.expires_at`,
        [pending.interactionUid, pending.userId, pending.amr, pending.expiresAt],
      );
    },

    async findPending(interactionUid) {
      const { rows } = await db.query<{ interaction_uid: string; user_id: string; amr: string[]; expires_at: Date }>(
        "SELECT interaction_uid, user_id, amr, expires_at FROM pending_sign_ins WHERE interaction_uid = $1 AND expires_at > $2",
        [interactionUid, now()],
      );
      const row = rows[0];
      return row && { interactionUid: row.interaction_uid, userId: row.user_id, amr: row.amr, expiresAt: row.expires_at };
    },

    async deletePending(interactionUid) {
      await db.query("DELETE FROM pending_sign_ins WHERE interaction_uid = $1", [interactionUid]);
    },

    async deleteExpiredPending() {
      const { rowCount } = await db.query("DELETE FROM pending_sign_ins WHERE expires_at <= $1", [now()]);
      return rowCount ?? 0;
    },
  };
}
