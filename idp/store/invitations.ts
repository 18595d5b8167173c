// SQL for invitations: an address the operator invited, its link stored only as a SHA-256 hash,
// used at most once (one atomic UPDATE), at most one open per address (a new one revokes the older).
import type { Queryable } from "../db/database.ts";
import { ConflictError, isUniqueViolation } from "./errors.ts";

export type Invitation = {
  id: string;
  email: string;
  name: string | null;
  locale: string;
  invitedBy: string;
  /** The roles the account gets when the invitation is accepted (migration 016). */
  roles: string[];
  createdAt: Date;
  expiresAt: Date;
  consumedAt: Date | null;
  revokedAt: Date | null;
};

/** Why an invitation cannot be used (any more). */
export type InvitationState = "usable" | "used" | "revoked" | "expired";

export function invitationState(invitation: Pick<Invitation, "expiresAt" | "consumedAt" | "revokedAt">, now: Date): InvitationState {
  if (invitation.consumedAt) return "used";
  if (invitation.revokedAt) return "revoked";
  if (invitation.expiresAt.getTime() <= now.getTime()) return "expired";
  return "usable";
}

export type NewInvitation = {
  email: string;
  name: string | null;
  locale: string;
  invitedBy: string;
  roles?: string[];
  tokenHash: Buffer;
  expiresAt: Date;
};

type InvitationRow = {
  id: string;
  email: string;
  name: string | null;
  locale: string;
  invited_by: string;
  roles: string[];
  created_at: Date;
  expires_at: Date;
  consumed_at: Date | null;
  revoked_at: Date | null;
};

// Named, never *: prepared statements must keep their result columns when a migration adds one.
const COLUMNS = "id, email, name, locale, invited_by, roles, created_at, expires_at, consumed_at, revoked_at";

const toInvitation = (row: InvitationRow): Invitation => ({
  id: row.id,
  email: row.email,
  name: row.name,
  locale: row.locale,
  invitedBy: row.invited_by,
  roles: row.roles,
  createdAt: row.created_at,
  expiresAt: row.expires_at,
  consumedAt: row.consumed_at,
  revokedAt: row.revoked_at,
});

/** The invitations table's contract. */
export interface InvitationStore {
  /**
   * Stores a new invitation after revoking the address's open one (call it inside a transaction),
   * and says how many it revoked. Throws ConflictError when a concurrent invitation of the address won.
   */
  issue(invitation: NewInvitation): Promise<{ invitation: Invitation; revoked: number }>;
  /** The invitation with this hash, in whatever state, without changing it. */
  find(tokenHash: Buffer): Promise<Invitation | undefined>;
  /** Uses the invitation, atomically: it for exactly one caller, while usable; undefined for every other. */
  consume(tokenHash: Buffer): Promise<Invitation | undefined>;
  /** The invitations still usable (neither used nor revoked, not expired), oldest first. */
  pending(): Promise<Invitation[]>;
  /** Revokes the address's open invitation (case-insensitively); the ones revoked. */
  revokeOpen(email: string): Promise<Invitation[]>;
  /** Deletes invitations that expired before the cutoff; how many. */
  deleteExpiredBefore(cutoff: Date): Promise<number>;
}

export function createInvitationStore(db: Queryable, now: () => Date = () => new Date()): InvitationStore {
  return {
    async issue(invitation) {
      const at = now();
      // Two statements, not one: the unique index on open addresses must see the revocation.
      const { rowCount } = await db.query(
        "UPDATE invitations SET revoked_at = $2 WHERE lower(email) = lower($1) AND consumed_at IS NULL AND revoked_at IS NULL",
        [invitation.email, at],
      );
      try {
        const { rows } = await db.query<InvitationRow>(
          `INSERT INTO invitations (email, token_hash, name, locale, invited_by, created_at, expires_at, roles)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${COLUMNS}`,
          [invitation.email, invitation.tokenHash, invitation.name, invitation.locale, invitation.invitedBy, at, invitation.expiresAt, invitation.roles ?? []],
        );
        return { invitation: toInvitation(rows[0]!), revoked: rowCount ?? 0 };
      } catch (error) {
        if (isUniqueViolation(error)) throw new ConflictError(`${invitation.email} was invited at the same moment by someone else: run it again`);
        throw error;
      }
    },

    async find(tokenHash) {
      const { rows } = await db.query<InvitationRow>(`SELECT ${COLUMNS} FROM invitations WHERE token_hash = $1`, [tokenHash]);
      return rows[0] && toInvitation(rows[0]);
    },

    async consume(tokenHash) {
      const { rows } = await db.query<InvitationRow>(
        `UPDATE invitations SET consumed_at = $2
          WHERE token_hash = $1 AND consumed_at IS NULL AND revoked_at IS NULL AND expires_at > $2
          RETURNING ${COLUMNS}`,
        [tokenHash, now()],
      );
      return rows[0] && toInvitation(rows[0]);
    },

    async pending() {
      const { rows } = await db.query<InvitationRow>(
        `SELECT ${COLUMNS} FROM invitations
          WHERE consumed_at IS NULL AND revoked_at IS NULL AND expires_at > $1
          ORDER BY created_at, id`,
        [now()],
      );
      return rows.map(toInvitation);
    },

    async revokeOpen(email) {
      const { rows } = await db.query<InvitationRow>(
        `UPDATE invitations SET revoked_at = $2
          WHERE lower(email) = lower($1) AND consumed_at IS NULL AND revoked_at IS NULL
          RETURNING ${COLUMNS}`,
        [email, now()],
      );
      return rows.map(toInvitation);
    },

    async deleteExpiredBefore(cutoff) {
      const { rowCount } = await db.query("DELETE FROM invitations WHERE expires_at < $1", [cutoff]);
      return rowCount ?? 0;
    },
  };
}
