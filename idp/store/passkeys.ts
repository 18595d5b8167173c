// SQL for webauthn_credentials and webauthn_challenges: a person's passkeys, and the single-use
// challenges their ceremonies sign. A challenge is consumed by one statement (exactly one caller
// gets it); a counter is advanced by one guarded statement (a replayed or concurrent assertion
// with the same counter finds nothing to update).
import type { Queryable } from "../db/database.ts";

export type DeviceType = "singleDevice" | "multiDevice";

export type StoredPasskey = {
  id: string;
  userId: string;
  publicKey: Uint8Array<ArrayBuffer>;
  counter: number;
  transports: string[];
  rpId: string;
  aaguid: string;
  deviceType: DeviceType;
  backedUp: boolean;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
};

export type NewPasskey = Omit<StoredPasskey, "createdAt" | "lastUsedAt">;

export type ChallengePurpose = "authentication" | "registration";

/** What a challenge is bound to: the interaction it was asked in (a sign-in), the person (registration, or a second factor). */
export type ChallengeBinding = { purpose: ChallengePurpose; interactionUid: string | null; userId: string | null };

type PasskeyRow = {
  id: string;
  user_id: string;
  public_key: Buffer;
  counter: string;
  transports: string[];
  rp_id: string;
  aaguid: string;
  device_type: DeviceType;
  backed_up: boolean;
  name: string;
  created_at: Date;
  last_used_at: Date | null;
};

const COLUMNS = "id, user_id, public_key, counter, transports, rp_id, aaguid, device_type, backed_up, name, created_at, last_used_at";

const toPasskey = (row: PasskeyRow): StoredPasskey => ({
  id: row.id,
  userId: row.user_id,
  publicKey: new Uint8Array(row.public_key),
  counter: Number(row.counter),
  transports: row.transports,
  rpId: row.rp_id,
  aaguid: row.aaguid,
  deviceType: row.device_type,
  backedUp: row.backed_up,
  name: row.name,
  createdAt: row.created_at,
  lastUsedAt: row.last_used_at,
});

export interface PasskeyStore {
  add(passkey: NewPasskey): Promise<StoredPasskey>;
  find(id: string): Promise<StoredPasskey | undefined>;
  /** A person's passkeys for this RP ID, oldest first. */
  listForUser(userId: string, rpId?: string): Promise<StoredPasskey[]>;
  countForUser(userId: string): Promise<number>;
  /**
   * Records a verified assertion: the new counter, backup state and time of use, only if the
   * counter still moves forward (or both stay 0, as synced passkeys send). False: it did not.
   */
  recordUse(input: { id: string; counter: number; backedUp: boolean }): Promise<boolean>;
  rename(userId: string, id: string, name: string): Promise<boolean>;
  remove(userId: string, id: string): Promise<StoredPasskey | undefined>;
  /** Every passkey of a person (the operator's reset for a lost device); how many. */
  removeAllForUser(userId: string): Promise<number>;
  issueChallenge(challenge: string, binding: ChallengeBinding, ttlSeconds: number): Promise<void>;
  /** Consumes an open challenge with this binding; its person (if bound to one), or undefined when there is none. */
  consumeChallenge(challenge: string, binding: Omit<ChallengeBinding, "userId">): Promise<{ userId: string | null } | undefined>;
  deleteExpiredChallengesBefore(cutoff: Date): Promise<number>;
}

export function createPasskeyStore(db: Queryable, now: () => Date = () => new Date()): PasskeyStore {
  return {
    async add(passkey) {
      const { rows } = await db.query<PasskeyRow>(
        `INSERT INTO webauthn_credentials (id, user_id, public_key, counter, transports, rp_id, aaguid, device_type, backed_up, name, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING ${COLUMNS}`,
        [passkey.id, passkey.userId, Buffer.from(passkey.publicKey), passkey.counter, passkey.transports, passkey.rpId, passkey.aaguid, passkey.deviceType, passkey.backedUp, passkey.name, now()],
      );
      return toPasskey(rows[0]!);
    },

    async find(id) {
      const { rows } = await db.query<PasskeyRow>(`SELECT ${COLUMNS} FROM webauthn_credentials WHERE id = $1`, [id]);
      return rows[0] && toPasskey(rows[0]);
    },

    async listForUser(userId, rpId) {
      const { rows } = await db.query<PasskeyRow>(
        `SELECT ${COLUMNS} FROM webauthn_credentials WHERE user_id = $1 AND ($2::text IS NULL OR rp_id = $2) ORDER BY created_at, id`,
        [userId, rpId ?? null],
      );
      return rows.map(toPasskey);
    },

    async countForUser(userId) {
      const { rows } = await db.query<{ count: number }>("SELECT count(*)::int AS count FROM webauthn_credentials WHERE user_id = $1", [userId]);
      return rows[0]!.count;
    },

    async recordUse({ id, counter, backedUp }) {
      const { rowCount } = await db.query(
        `UPDATE webauthn_credentials SET counter = $2, backed_up = $3, last_used_at = $4
          WHERE id = $1 AND (counter < $2 OR (counter = 0 AND $2 = 0))`,
        [id, counter, backedUp, now()],
      );
      return rowCount === 1;
    },

    async rename(userId, id, name) {
      const { rowCount } = await db.query("UPDATE webauthn_credentials SET name = $3 WHERE user_id = $1 AND id = $2", [userId, id, name]);
      return rowCount === 1;
    },

    async remove(userId, id) {
      const { rows } = await db.query<PasskeyRow>(`DELETE FROM webauthn_credentials WHERE user_id = $1 AND id = $2 RETURNING ${COLUMNS}`, [userId, id]);
      return rows[0] && toPasskey(rows[0]);
    },

    async removeAllForUser(userId) {
      const { rowCount } = await db.query("DELETE FROM webauthn_credentials WHERE user_id = $1", [userId]);
      return rowCount ?? 0;
    },

    async issueChallenge(challenge, binding, ttlSeconds) {
      const at = now();
      await db.query(
        `INSERT INTO webauthn_challenges (challenge, purpose, interaction_uid, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
        [challenge, binding.purpose, binding.interactionUid, binding.userId, at, new Date(at.getTime() + ttlSeconds * 1000)],
      );
    },

    async consumeChallenge(challenge, binding) {
      const { rows } = await db.query<{ user_id: string | null }>(
        `UPDATE webauthn_challenges SET consumed_at = $4
          WHERE challenge = $1 AND purpose = $2 AND interaction_uid IS NOT DISTINCT FROM $3 AND consumed_at IS NULL AND expires_at > $4
          RETURNING user_id`,
        [challenge, binding.purpose, binding.interactionUid, now()],
      );
      return rows[0] && { userId: rows[0].user_id };
    },

    async deleteExpiredChallengesBefore(cutoff) {
      const { rowCount } = await db.query("DELETE FROM webauthn_challenges WHERE expires_at < $1", [cutoff]);
      return rowCount ?? 0;
    },
  };
}
