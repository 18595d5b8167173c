// SQL for the clients table: the applications users sign in to.
import type { Queryable } from "../db/database.ts";
import { ConflictError, NotFoundError, isUniqueViolation } from "./errors.ts";

export type Client = {
  id: string;
  /** The display name the sign-in pages show ("to continue to <name>"); null: the id is shown. */
  name: string | null;
  /** An https (or local http) image URL the sign-in pages show beside the name; null: none. */
  logoUri: string | null;
  /** SHA-256 of the secret, hex; null for a public client. */
  secretHash: string | null;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  firstParty: boolean;
  /** A server that gets service tokens with client_credentials; never signs people in. */
  service: boolean;
  /** web, native (RFC 8252) or device (RFC 8628); service clients are web. */
  kind: ClientKind;
  /** Everyone signing in to it needs a second factor (`idp clients add --require-mfa`). */
  requireMfa: boolean;
  /** Whether its ID tokens carry the person's `roles` (migration 016). */
  rolesClaim: boolean;
  /** What a service client's tokens may do (admin:users:read, ...); empty for other clients. */
  scopes: string[];
  createdAt: Date;
};

/** What kind of application signs people in (migrations/013_client_kinds.sql). */
export type ClientKind = "web" | "native" | "device";

type ClientRow = {
  id: string;
  name: string | null;
  logo_uri: string | null;
  secret_hash: string | null;
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  first_party: boolean;
  service: boolean;
  kind: ClientKind;
  require_mfa: boolean;
  roles_claim: boolean;
  scopes: string[];
  created_at: Date;
};

// Named, never *: prepared statements must keep their result columns when a migration adds one.
const CLIENT_COLUMNS = "id, name, logo_uri, secret_hash, redirect_uris, post_logout_redirect_uris, first_party, service, kind, require_mfa, roles_claim, scopes, created_at";

const toClient = (row: ClientRow): Client => ({
  id: row.id,
  name: row.name,
  logoUri: row.logo_uri,
  secretHash: row.secret_hash,
  redirectUris: row.redirect_uris,
  postLogoutRedirectUris: row.post_logout_redirect_uris,
  firstParty: row.first_party,
  service: row.service,
  kind: row.kind,
  requireMfa: row.require_mfa,
  rolesClaim: row.roles_claim,
  scopes: row.scopes,
  createdAt: row.created_at,
});

export type NewClient = Omit<Client, "createdAt" | "service" | "logoUri" | "kind" | "requireMfa" | "rolesClaim" | "scopes"> & {
  service?: boolean;
  logoUri?: string | null;
  kind?: ClientKind;
  requireMfa?: boolean;
  rolesClaim?: boolean;
  scopes?: string[];
};

/** The clients table's contract. Values arrive validated (accounts/operator.ts); the store only keeps them. */
export interface ClientStore {
  /** Throws ConflictError when the id is taken. */
  create(client: NewClient): Promise<Client>;
  find(id: string): Promise<Client | undefined>;
  /** Every client, by id. */
  list(): Promise<Client[]>;
  /** Replaces the redirect URIs (and, when given, the post-logout ones). Throws NotFoundError for an unknown id. */
  setRedirectUris(id: string, redirectUris: string[], postLogoutRedirectUris?: string[]): Promise<Client>;
  /** Throws NotFoundError for an unknown id. */
  remove(id: string): Promise<void>;
}

export function createClientStore(db: Queryable): ClientStore {
  return {
    async create(client) {
      try {
        const { rows } = await db.query<ClientRow>(
          `INSERT INTO clients (id, name, logo_uri, secret_hash, redirect_uris, post_logout_redirect_uris, first_party, service, kind, require_mfa, roles_claim, scopes)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING ${CLIENT_COLUMNS}`,
          [
            client.id,
            client.name,
            client.logoUri ?? null,
            client.secretHash,
            client.redirectUris,
            client.postLogoutRedirectUris,
            client.firstParty,
            client.service ?? false,
            client.kind ?? "web",
            client.requireMfa ?? false,
            client.rolesClaim ?? false,
            client.scopes ?? [],
          ],
        );
        return toClient(rows[0]!);
      } catch (error) {
        if (isUniqueViolation(error)) throw new ConflictError(`a client with id ${client.id} already exists`);
        throw error;
      }
    },

    async find(id) {
      const { rows } = await db.query<ClientRow>(`SELECT ${CLIENT_COLUMNS} FROM clients WHERE id = $1`, [id]);
      return rows[0] && toClient(rows[0]);
    },

    async list() {
      const { rows } = await db.query<ClientRow>(`SELECT ${CLIENT_COLUMNS} FROM clients ORDER BY id`);
      return rows.map(toClient);
    },

    async setRedirectUris(id, redirectUris, postLogoutRedirectUris) {
      const { rows } = await db.query<ClientRow>(
        `UPDATE clients SET redirect_uris = $2, post_logout_redirect_uris = coalesce($3, post_logout_redirect_uris), updated_at = now()
         WHERE id = $1 RETURNING ${CLIENT_COLUMNS}`,
        [id, redirectUris, postLogoutRedirectUris ?? null],
      );
      if (!rows[0]) throw new NotFoundError(`no client with id ${id}`);
      return toClient(rows[0]);
    },

    async remove(id) {
      const { rowCount } = await db.query("DELETE FROM clients WHERE id = $1", [id]);
      if (!rowCount) throw new NotFoundError(`no client with id ${id}`);
    },
  };
}
