// SQL for the clients table: the applications users sign in to.
import type { Queryable } from "../db/database.ts";
import { ConflictError, NotFoundError, isUniqueViolation } from "./errors.ts";

export type Client = {
  id: string;
  name: string | null;
  /** SHA-256 of the secret, hex; null for a public client. */
  secretHash: string | null;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  firstParty: boolean;
  /** A server that gets service tokens with client_credentials; never signs people in. */
  service: boolean;
  createdAt: Date;
};

type ClientRow = {
  id: string;
  name: string | null;
  secret_hash: string | null;
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  first_party: boolean;
  service: boolean;
  created_at: Date;
};

// Named, never *: prepared statements must keep their result columns when a migration adds one.
const CLIENT_COLUMNS = "id, name, secret_hash, redirect_uris, post_logout_redirect_uris, first_party, service, created_at";

const toClient = (row: ClientRow): Client => ({
  id: row.id,
  name: row.name,
  secretHash: row.secret_hash,
  redirectUris: row.redirect_uris,
  postLogoutRedirectUris: row.post_logout_redirect_uris,
  firstParty: row.first_party,
  service: row.service,
  createdAt: row.created_at,
});

export type NewClient = Omit<Client, "createdAt" | "service"> & { service?: boolean };

export function createClientStore(db: Queryable) {
  return {
    async create(client: NewClient): Promise<Client> {
      try {
        const { rows } = await db.query<ClientRow>(
          `INSERT INTO clients (id, name, secret_hash, redirect_uris, post_logout_redirect_uris, first_party, service)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${CLIENT_COLUMNS}`,
          [
            client.id,
            client.name,
            client.secretHash,
            client.redirectUris,
            client.postLogoutRedirectUris,
            client.firstParty,
            client.service ?? false,
          ],
        );
        return toClient(rows[0]!);
      } catch (error) {
        if (isUniqueViolation(error)) throw new ConflictError(`a client with id ${client.id} already exists`);
        throw error;
      }
    },

    async find(id: string): Promise<Client | undefined> {
      const { rows } = await db.query<ClientRow>(`SELECT ${CLIENT_COLUMNS} FROM clients WHERE id = $1`, [id]);
      return rows[0] && toClient(rows[0]);
    },

    async list(): Promise<Client[]> {
      const { rows } = await db.query<ClientRow>(`SELECT ${CLIENT_COLUMNS} FROM clients ORDER BY id`);
      return rows.map(toClient);
    },

    async remove(id: string): Promise<void> {
      const { rowCount } = await db.query("DELETE FROM clients WHERE id = $1", [id]);
      if (!rowCount) throw new NotFoundError(`no client with id ${id}`);
    },
  };
}

export type ClientStore = ReturnType<typeof createClientStore>;
