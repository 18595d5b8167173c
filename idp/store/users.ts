// SQL for the users table. Emails are matched case-insensitively; ids are opaque and never change.
import { randomUUID } from "node:crypto";
import type { Queryable } from "../db/database.ts";
import { ConflictError, NotFoundError, isUniqueViolation } from "./errors.ts";

export type User = {
  id: string;
  email: string;
  emailVerified: boolean;
  name: string | null;
  picture: string | null;
  passwordHash: string | null;
  disabled: boolean;
  /** E.164 (idp/sms/phone-numbers.ts), or null. */
  phone: string | null;
  phoneVerified: boolean;
  /** Role names (migration 016); the `roles` claim of clients that ask for it. */
  roles: string[];
  createdAt: Date;
  updatedAt: Date;
};

type UserRow = {
  id: string;
  email: string;
  email_verified: boolean;
  name: string | null;
  picture: string | null;
  password_hash: string | null;
  disabled: boolean;
  phone: string | null;
  phone_verified: boolean;
  roles: string[];
  created_at: Date;
  updated_at: Date;
};

// Named, never *: prepared statements must keep their result columns when a migration adds one.
const USER_COLUMNS = "id, email, email_verified, name, picture, password_hash, disabled, phone, phone_verified, roles, created_at, updated_at";

const toUser = (row: UserRow): User => ({
  id: row.id,
  email: row.email,
  emailVerified: row.email_verified,
  name: row.name,
  picture: row.picture,
  passwordHash: row.password_hash,
  disabled: row.disabled,
  phone: row.phone,
  phoneVerified: row.phone_verified,
  roles: row.roles,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export type NewUser = {
  email: string;
  name?: string | null;
  picture?: string | null;
  emailVerified?: boolean;
  passwordHash?: string | null;
  /** E.164, normalised by the caller. */
  phone?: string | null;
  phoneVerified?: boolean;
  /** Validated by the caller (accounts/operator.ts). */
  roles?: string[];
};

/** Where a page of users starts: after the user with this creation time (microseconds since the epoch, exact) and id. */
export type UserCursor = { createdAtMicros: string; id: string };

/** A page of users and where the next one starts (none: this was the last). */
export type UserPage = { users: User[]; next: UserCursor | undefined };

/** Which user a change is for: by id (the flows) or by email (the operator). */
export type UserRef = { id: string } | { email: string };

/** The users table's contract: what accounts, the provider and the operator may do with users. */
export interface UserStore {
  /** Throws ConflictError when a user has the email already, in any case. */
  create(user: NewUser): Promise<User>;
  findById(id: string): Promise<User | undefined>;
  /** Matches the email case-insensitively. */
  findByEmail(email: string): Promise<User | undefined>;
  /** The user with this E.164 phone number (stored normalised, so compared exactly). */
  findByPhone(e164: string): Promise<User | undefined>;
  /** Every user, oldest first. */
  list(): Promise<User[]>;
  /**
   * Users in (created_at, id) order, `limit` at most, after `after`; `search` matches a part of the
   * email or name, case-insensitively. A keyset page: users added meanwhile never make another user
   * skip or repeat.
   */
  page(options: { search?: string; after?: UserCursor; limit: number }): Promise<UserPage>;
  /** Replaces the roles (validated by the caller). Throws NotFoundError for an unknown id. */
  setRoles(id: string, roles: string[]): Promise<User>;
  /** Changes the name and/or whether the email is verified. Throws NotFoundError for an unknown id. */
  updateProfile(id: string, profile: { name?: string | null; emailVerified?: boolean }): Promise<User>;
  /** Throws NotFoundError for an unknown email. */
  setDisabled(email: string, disabled: boolean): Promise<User>;
  /**
   * Sets (E.164, normalised by the caller) or removes (null) a user's phone number and whether it is
   * verified. Throws NotFoundError for an unknown user, ConflictError when another user has the number.
   */
  setPhone(user: UserRef, phone: string | null, verified: boolean): Promise<User>;
  /** Throws NotFoundError for an unknown id. */
  setPasswordHash(id: string, passwordHash: string): Promise<void>;
  /** Replaces the hash only if it is still the one that was verified, so a concurrent password change wins. */
  upgradePasswordHash(id: string, previousHash: string, passwordHash: string): Promise<void>;
  /**
   * Records that the person proved they read mail at their address (a verification or reset link):
   * whether it was unverified until now. Throws NotFoundError for an unknown id.
   */
  markEmailVerified(id: string): Promise<boolean>;
  /**
   * Deletes the user (a data-protection request); their one-time tokens and codes go with them.
   * The deleted user, or undefined for an unknown email.
   */
  remove(email: string): Promise<User | undefined>;
}

// The unique index on phone (migration 010), told apart from the one on email.
const PHONE_INDEX = "users_phone_key";

export function createUserStore(db: Queryable): UserStore {
  return {
    async create(user: NewUser): Promise<User> {
      try {
        const { rows } = await db.query<UserRow>(
          `INSERT INTO users (id, email, email_verified, name, picture, password_hash, phone, phone_verified, roles)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ${USER_COLUMNS}`,
          [
            randomUUID(),
            user.email,
            user.emailVerified ?? false,
            user.name ?? null,
            user.picture ?? null,
            user.passwordHash ?? null,
            user.phone ?? null,
            (user.phone ?? null) !== null && (user.phoneVerified ?? false),
            user.roles ?? [],
          ],
        );
        return toUser(rows[0]!);
      } catch (error) {
        if (isUniqueViolation(error, PHONE_INDEX)) throw new ConflictError(`another user has the phone number ${user.phone}`);
        if (isUniqueViolation(error)) throw new ConflictError(`a user with email ${user.email} already exists`);
        throw error;
      }
    },

    async findById(id: string): Promise<User | undefined> {
      const { rows } = await db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE id = $1`, [id]);
      return rows[0] && toUser(rows[0]);
    },

    async findByEmail(email: string): Promise<User | undefined> {
      const { rows } = await db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE lower(email) = lower($1)`, [email]);
      return rows[0] && toUser(rows[0]);
    },

    async findByPhone(e164: string): Promise<User | undefined> {
      const { rows } = await db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE phone = $1`, [e164]);
      return rows[0] && toUser(rows[0]);
    },

    async list(): Promise<User[]> {
      const { rows } = await db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users ORDER BY created_at, email`);
      return rows.map(toUser);
    },

    async page({ search, after, limit }) {
      // The cursor's time travels as exact microseconds: a JavaScript Date would round it to
      // milliseconds and repeat users created within the same millisecond.
      const { rows } = await db.query<UserRow & { created_micros: string }>(
        `SELECT ${USER_COLUMNS}, (extract(epoch FROM created_at) * 1000000)::bigint::text AS created_micros FROM users
         WHERE ($1::text IS NULL OR strpos(lower(email), lower($1)) > 0 OR strpos(lower(coalesce(name, '')), lower($1)) > 0)
           AND ($2::bigint IS NULL OR (created_at, id) > ('epoch'::timestamptz + $2::bigint * interval '1 microsecond', $3::text))
         ORDER BY created_at, id
         LIMIT $4`,
        [search || null, after?.createdAtMicros ?? null, after?.id ?? null, limit + 1],
      );
      const more = rows.length > limit;
      const shown = rows.slice(0, limit);
      const last = shown.at(-1);
      return { users: shown.map(toUser), next: more && last ? { createdAtMicros: last.created_micros, id: last.id } : undefined };
    },

    async setRoles(id, roles) {
      const { rows } = await db.query<UserRow>(`UPDATE users SET roles = $2, updated_at = now() WHERE id = $1 RETURNING ${USER_COLUMNS}`, [id, roles]);
      if (!rows[0]) throw new NotFoundError(`no user with id ${id}`);
      return toUser(rows[0]);
    },

    async updateProfile(id, profile) {
      const { rows } = await db.query<UserRow>(
        `UPDATE users SET name = CASE WHEN $2 THEN $3 ELSE name END, email_verified = coalesce($4, email_verified), updated_at = now()
         WHERE id = $1 RETURNING ${USER_COLUMNS}`,
        [id, profile.name !== undefined, profile.name ?? null, profile.emailVerified ?? null],
      );
      if (!rows[0]) throw new NotFoundError(`no user with id ${id}`);
      return toUser(rows[0]);
    },

    async setDisabled(email: string, disabled: boolean): Promise<User> {
      const { rows } = await db.query<UserRow>(
        `UPDATE users SET disabled = $2, updated_at = now() WHERE lower(email) = lower($1) RETURNING ${USER_COLUMNS}`,
        [email, disabled],
      );
      if (!rows[0]) throw new NotFoundError(`no user with email ${email}`);
      return toUser(rows[0]);
    },

    async setPhone(user: UserRef, phone: string | null, verified: boolean): Promise<User> {
      const [where, key] = "id" in user ? ["id = $1", user.id] : ["lower(email) = lower($1)", user.email];
      try {
        const { rows } = await db.query<UserRow>(
          `UPDATE users SET phone = $2, phone_verified = $3, updated_at = now() WHERE ${where} RETURNING ${USER_COLUMNS}`,
          // No number, nothing verified.
          [key, phone, phone !== null && verified],
        );
        if (!rows[0]) throw new NotFoundError("id" in user ? `no user with id ${user.id}` : `no user with email ${user.email}`);
        return toUser(rows[0]);
      } catch (error) {
        if (isUniqueViolation(error, PHONE_INDEX)) throw new ConflictError(`another user has the phone number ${phone}`);
        throw error;
      }
    },

    async setPasswordHash(id: string, passwordHash: string): Promise<void> {
      const { rowCount } = await db.query("UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1", [
        id,
        passwordHash,
      ]);
      if (!rowCount) throw new NotFoundError(`no user with id ${id}`);
    },

    async upgradePasswordHash(id: string, previousHash: string, passwordHash: string): Promise<void> {
      await db.query("UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2", [id, previousHash, passwordHash]);
    },

    async markEmailVerified(id: string): Promise<boolean> {
      // The row is locked and read first, so the answer says what this call changed; updated_at
      // (a claim in tokens) moves only when the claim does.
      const { rows } = await db.query<{ was_verified: boolean }>(
        `WITH before AS (SELECT id, email_verified FROM users WHERE id = $1 FOR UPDATE)
         UPDATE users u SET email_verified = true, updated_at = CASE WHEN before.email_verified THEN u.updated_at ELSE now() END
           FROM before WHERE u.id = before.id
         RETURNING before.email_verified AS was_verified`,
        [id],
      );
      if (!rows[0]) throw new NotFoundError(`no user with id ${id}`);
      return !rows[0].was_verified;
    },

    async remove(email: string): Promise<User | undefined> {
      const { rows } = await db.query<UserRow>(`DELETE FROM users WHERE lower(email) = lower($1) RETURNING ${USER_COLUMNS}`, [email]);
      return rows[0] && toUser(rows[0]);
    },
  };
}
