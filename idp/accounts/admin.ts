// Operator actions on users and clients (what the CLI offers): input is validated here, so nothing
// invalid reaches the store, and multi-step changes run in one transaction.
import type { Database } from "../db/database.ts";
import { createClientStore, type Client } from "../store/clients.ts";
import { createOidcPayloadStore } from "../store/oidc-payloads.ts";
import { createUserStore, type User } from "../store/users.ts";
import { generateClientSecret, hashClientSecret } from "./client-secrets.ts";
import type { PasswordHasher } from "./passwords.ts";

export class InvalidInputError extends Error {
  override name = "InvalidInputError";
}

export const PASSWORD_MIN_LENGTH = 8;
// Bounded so that hashing a hostile password stays cheap.
export const PASSWORD_MAX_LENGTH = 128;

export function validatePassword(password: string): void {
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) throw new InvalidInputError(`password must be at least ${PASSWORD_MIN_LENGTH} characters`);
  if (length > PASSWORD_MAX_LENGTH) throw new InvalidInputError(`password must be at most ${PASSWORD_MAX_LENGTH} characters`);
}

export function validateEmail(email: string): string {
  const trimmed = email.trim();
  if (trimmed.length > 320 || !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(trimmed)) throw new InvalidInputError(`"${email}" is not an email address`);
  return trimmed;
}

/** Redirect URIs are matched exactly, so they must be absolute, without fragment, and https unless local. */
export function validateRedirectUri(uri: string): string {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new InvalidInputError(`"${uri}" is not an absolute URL`);
  }
  if (url.hash) throw new InvalidInputError(`"${uri}" must not contain a fragment`);
  const local = ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
  if (url.protocol === "http:" && !local) throw new InvalidInputError(`"${uri}" must use https (http is allowed for localhost only)`);
  if (!["http:", "https:"].includes(url.protocol) && !/^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/.test(url.protocol)) {
    throw new InvalidInputError(`"${uri}" must be https, local http, or a reverse-domain app scheme`);
  }
  return uri;
}

const CLIENT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export type NewClientInput = {
  id: string;
  name?: string;
  redirectUris: string[];
  postLogoutRedirectUris?: string[];
  public: boolean;
  firstParty: boolean;
  /** A server using client_credentials: confidential, no redirect URIs. */
  service?: boolean;
};

export function createAdmin(db: Database, hasher: PasswordHasher) {
  const users = createUserStore(db);
  const clients = createClientStore(db);

  return {
    users,
    clients,

    async addUser(input: { email: string; name?: string; emailVerified?: boolean; password: string }): Promise<User> {
      const email = validateEmail(input.email);
      validatePassword(input.password);
      return users.create({
        email,
        name: input.name?.trim() || null,
        emailVerified: input.emailVerified ?? false,
        passwordHash: await hasher.hash(input.password),
      });
    },

    async setPassword(email: string, password: string): Promise<void> {
      validatePassword(password);
      const user = await users.findByEmail(email);
      if (!user) throw new InvalidInputError(`no user with email ${email}`);
      await users.setPasswordHash(user.id, await hasher.hash(password));
    },

    /** Creates a client; for a confidential one, returns the secret, which is never shown again. */
    async addClient(input: NewClientInput): Promise<{ client: Client; secret?: string }> {
      if (!CLIENT_ID.test(input.id)) throw new InvalidInputError("client id must be 1-100 letters, digits, '.', '_' or '-'");
      const service = input.service ?? false;
      if (service && input.public) throw new InvalidInputError("a service client is confidential: it cannot be --public");
      if (service && (input.redirectUris.length > 0 || (input.postLogoutRedirectUris ?? []).length > 0)) {
        throw new InvalidInputError("a service client signs nobody in: it takes no redirect URIs");
      }
      if (!service && input.redirectUris.length === 0) throw new InvalidInputError("at least one --redirect-uri is required");
      const redirectUris = input.redirectUris.map(validateRedirectUri);
      const postLogoutRedirectUris = (input.postLogoutRedirectUris ?? []).map(validateRedirectUri);
      const secret = input.public ? undefined : generateClientSecret();
      const client = await clients.create({
        id: input.id,
        name: input.name?.trim() || null,
        secretHash: secret ? hashClientSecret(secret) : null,
        redirectUris,
        postLogoutRedirectUris,
        firstParty: service ? false : input.firstParty,
        service,
      });
      return { client, secret };
    },

    /** Removes a client and everything issued to it, in one transaction. */
    async removeClient(id: string): Promise<void> {
      await db.transaction(async (tx) => {
        await createClientStore(tx).remove(id);
        await createOidcPayloadStore(tx).revokeByClientId(id);
      });
    },
  };
}

export type Admin = ReturnType<typeof createAdmin>;
