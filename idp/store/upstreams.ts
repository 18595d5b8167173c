// SQL for sign-in through upstream identity providers: the providers `idp upstreams` manages (their
// secrets sealed by the caller) and the federated identities, (issuer, subject) -> user, with the
// profile an upstream reports written onto the user on each sign-in.
import type { Queryable } from "../db/database.ts";
import { ConflictError, isUniqueViolation } from "./errors.ts";

export type UpstreamKind = "oidc" | "github" | "microsoft" | "apple" | "google";

export type UpstreamProvider = {
  id: string;
  kind: UpstreamKind;
  issuer: string;
  clientId: string;
  /** Sealed (idp/mail/seal.ts under UPSTREAM_SECRET_INFO); null for a public client. */
  clientSecret: Buffer | null;
  scopes: string;
  displayName: string;
  trustEmail: boolean;
  allowSignUp: boolean;
  emailDomains: string[];
  enabled: boolean;
  options: Record<string, string>;
  createdAt: Date;
  updatedAt: Date;
};

export type NewUpstreamProvider = Omit<UpstreamProvider, "enabled" | "createdAt" | "updatedAt">;

export type FederatedIdentity = {
  issuer: string;
  subject: string;
  userId: string;
  providerId: string;
  email: string | null;
  name: string | null;
  picture: string | null;
  createdAt: Date;
  lastUsedAt: Date;
};

type ProviderRow = {
  id: string;
  kind: UpstreamKind;
  issuer: string;
  client_id: string;
  client_secret: Buffer | null;
  scopes: string;
  display_name: string;
  trust_email: boolean;
  allow_sign_up: boolean;
  email_domains: string[];
  enabled: boolean;
  options: Record<string, string>;
  created_at: Date;
  updated_at: Date;
};

type IdentityRow = {
  issuer: string;
  subject: string;
  user_id: string;
  provider_id: string;
  email: string | null;
  name: string | null;
  picture: string | null;
  created_at: Date;
  last_used_at: Date;
};

const PROVIDER_COLUMNS =
  "id, kind, issuer, client_id, client_secret, scopes, display_name, trust_email, allow_sign_up, email_domains, enabled, options, created_at, updated_at";
const IDENTITY_COLUMNS = "issuer, subject, user_id, provider_id, email, name, picture, created_at, last_used_at";

const toProvider = (row: ProviderRow): UpstreamProvider => ({
  id: row.id,
  kind: row.kind,
  issuer: row.issuer,
  clientId: row.client_id,
  clientSecret: row.client_secret,
  scopes: row.scopes,
  displayName: row.display_name,
  trustEmail: row.trust_email,
  allowSignUp: row.allow_sign_up,
  emailDomains: row.email_domains,
  enabled: row.enabled,
  options: row.options,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

const toIdentity = (row: IdentityRow): FederatedIdentity => ({
  issuer: row.issuer,
  subject: row.subject,
  userId: row.user_id,
  providerId: row.provider_id,
  email: row.email,
  name: row.name,
  picture: row.picture,
  createdAt: row.created_at,
  lastUsedAt: row.last_used_at,
});

/** What an upstream said about the person at this sign-in. */
export type UpstreamProfile = { email: string | null; name: string | null; picture: string | null };

/** The upstream tables' contract: providers for the operator, identities for the sign-in flow and the account page. */
export interface UpstreamStore {
  /** Throws ConflictError when the id is taken. */
  addProvider(provider: NewUpstreamProvider): Promise<UpstreamProvider>;
  findProvider(id: string): Promise<UpstreamProvider | undefined>;
  /** Every provider, by id. */
  listProviders(): Promise<UpstreamProvider[]>;
  /** Whether it existed. */
  removeProvider(id: string): Promise<boolean>;
  /** Whether it existed. */
  setProviderEnabled(id: string, enabled: boolean): Promise<boolean>;

  findIdentity(issuer: string, subject: string): Promise<FederatedIdentity | undefined>;
  /** A user's linked identities, oldest first. */
  identitiesOf(userId: string): Promise<FederatedIdentity[]>;
  /** Throws ConflictError when (issuer, subject) is linked already (to anyone). */
  link(identity: { issuer: string; subject: string; userId: string; providerId: string } & UpstreamProfile): Promise<FederatedIdentity>;
  /** Whether the user had this identity. */
  unlink(userId: string, issuer: string, subject: string): Promise<boolean>;
  /** Records this sign-in's profile on the identity. */
  touch(issuer: string, subject: string, profile: UpstreamProfile): Promise<void>;
  /**
   * Writes what the upstream says onto the user: name and picture always (when given), the email
   * (marked verified) only when `email` is set and no other user has it. updated_at moves only
   * when something changed.
   */
  updateUserProfile(userId: string, profile: { name: string | null; picture: string | null; email?: string }): Promise<void>;
}

export function createUpstreamStore(db: Queryable, now: () => Date = () => new Date()): UpstreamStore {
  return {
    async addProvider(provider) {
      try {
        const { rows } = await db.query<ProviderRow>(
          `INSERT INTO upstream_providers (id, kind, issuer, client_id, client_secret, scopes, display_name, trust_email, allow_sign_up, email_domains, options, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING ${PROVIDER_COLUMNS}`,
          [
            provider.id,
            provider.kind,
            provider.issuer,
            provider.clientId,
            provider.clientSecret,
            provider.scopes,
            provider.displayName,
            provider.trustEmail,
            provider.allowSignUp,
            provider.emailDomains,
            JSON.stringify(provider.options),
            now(),
          ],
        );
        return toProvider(rows[0]!);
      } catch (error) {
        if (isUniqueViolation(error)) throw new ConflictError(`an upstream provider with id ${provider.id} already exists`);
        throw error;
      }
    },

    async findProvider(id) {
      const { rows } = await db.query<ProviderRow>(`SELECT ${PROVIDER_COLUMNS} FROM upstream_providers WHERE id = $1`, [id]);
      return rows[0] && toProvider(rows[0]);
    },

    async listProviders() {
      const { rows } = await db.query<ProviderRow>(`SELECT ${PROVIDER_COLUMNS} FROM upstream_providers ORDER BY id`);
      return rows.map(toProvider);
    },

    async removeProvider(id) {
      const { rowCount } = await db.query("DELETE FROM upstream_providers WHERE id = $1", [id]);
      return (rowCount ?? 0) > 0;
    },

    async setProviderEnabled(id, enabled) {
      const { rowCount } = await db.query("UPDATE upstream_providers SET enabled = $2, updated_at = $3 WHERE id = $1", [id, enabled, now()]);
      return (rowCount ?? 0) > 0;
    },

    async findIdentity(issuer, subject) {
      const { rows } = await db.query<IdentityRow>(`SELECT ${IDENTITY_COLUMNS} FROM federated_identities WHERE issuer = $1 AND subject = $2`, [issuer, subject]);
      return rows[0] && toIdentity(rows[0]);
    },

    async identitiesOf(userId) {
      const { rows } = await db.query<IdentityRow>(`SELECT ${IDENTITY_COLUMNS} FROM federated_identities WHERE user_id = $1 ORDER BY created_at, issuer`, [userId]);
      return rows.map(toIdentity);
    },

    async link(identity) {
      try {
        const { rows } = await db.query<IdentityRow>(
          `INSERT INTO federated_identities (issuer, subject, user_id, provider_id, email, name, picture, created_at, last_used_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING ${IDENTITY_COLUMNS}`,
          [identity.issuer, identity.subject, identity.userId, identity.providerId, identity.email, identity.name, identity.picture, now()],
        );
        return toIdentity(rows[0]!);
      } catch (error) {
        if (isUniqueViolation(error)) throw new ConflictError("this upstream identity is linked already");
        throw error;
      }
    },

    async unlink(userId, issuer, subject) {
      const { rowCount } = await db.query("DELETE FROM federated_identities WHERE user_id = $1 AND issuer = $2 AND subject = $3", [userId, issuer, subject]);
      return (rowCount ?? 0) > 0;
    },

    async touch(issuer, subject, profile) {
      await db.query("UPDATE federated_identities SET email = $3, name = $4, picture = $5, last_used_at = $6 WHERE issuer = $1 AND subject = $2", [
        issuer,
        subject,
        profile.email,
        profile.name,
        profile.picture,
        now(),
      ]);
    },

    async updateUserProfile(userId, profile) {
      // Each value only when given; the email only when no other user has it (case-insensitively).
      await db.query(
        `UPDATE users u SET
           name = coalesce($2, u.name),
           picture = coalesce($3, u.picture),
           email = CASE WHEN $4::text IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users o WHERE lower(o.email) = lower($4) AND o.id <> u.id) THEN $4 ELSE u.email END,
           email_verified = CASE WHEN $4::text IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users o WHERE lower(o.email) = lower($4) AND o.id <> u.id) THEN true ELSE u.email_verified END,
           updated_at = $5
         WHERE u.id = $1
           AND (($2::text IS NOT NULL AND $2 IS DISTINCT FROM u.name) OR ($3::text IS NOT NULL AND $3 IS DISTINCT FROM u.picture)
                OR ($4::text IS NOT NULL AND ($4 IS DISTINCT FROM u.email OR NOT u.email_verified)))`,
        [userId, profile.name, profile.picture, profile.email ?? null, now()],
      );
    },
  };
}
