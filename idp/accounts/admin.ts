// Operator actions on users and clients (what the CLI offers): input is validated here, so nothing
// invalid reaches the store, and each change is written together with its audit event in one transaction.
import type { Database, Queryable } from "../db/database.ts";
import { createAuditStore, type AuditEvent } from "../store/audit.ts";
import { createClientStore, type Client } from "../store/clients.ts";
import { createOidcPayloadStore } from "../store/oidc-payloads.ts";
import { createUserStore, type User } from "../store/users.ts";
import { generateClientSecret, hashClientSecret } from "./client-secrets.ts";
import type { PasswordHasher } from "./passwords.ts";
import { passwordProblem, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from "./password-policy.ts";

export class InvalidInputError extends Error {
  override name = "InvalidInputError";
}

export { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH };

/** Applies the password policy (password-policy.ts); call it before hashing. */
export function validatePassword(password: string, context: { email?: string } = {}): void {
  const problem = passwordProblem(password, context);
  if (problem) throw new InvalidInputError(problem);
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

export type AdminOptions = {
  /** Who acts, as the audit trail names them; the CLI is "cli". */
  actor?: string;
  /** Added to every audit event's details, e.g. { os_user: "alice" }. Never a secret. */
  actorDetails?: Record<string, string>;
  /** The clock for audit events. */
  now?: () => Date;
};

export function createAdmin(db: Database, hasher: PasswordHasher, options: AdminOptions = {}) {
  const users = createUserStore(db);
  const clients = createClientStore(db);
  const actor = options.actor ?? "cli";
  const audited = (tx: Queryable, event: Omit<AuditEvent, "actor">) =>
    createAuditStore(tx, options.now).record({ ...event, actor, details: { ...options.actorDetails, ...event.details } });

  return {
    users,
    clients,

    async addUser(input: { email: string; name?: string; emailVerified?: boolean; password: string }): Promise<User> {
      const email = validateEmail(input.email);
      validatePassword(input.password, { email });
      // Hash before the transaction: argon2 takes a while and should not hold a connection open.
      const passwordHash = await hasher.hash(input.password);
      return db.transaction(async (tx) => {
        const user = await createUserStore(tx).create({
          email,
          name: input.name?.trim() || null,
          emailVerified: input.emailVerified ?? false,
          passwordHash,
        });
        await audited(tx, { event: "user.created", userId: user.id, email: user.email });
        return user;
      });
    },

    async setPassword(email: string, password: string): Promise<void> {
      validatePassword(password, { email });
      const user = await users.findByEmail(email);
      if (!user) throw new InvalidInputError(`no user with email ${email}`);
      const passwordHash = await hasher.hash(password);
      await db.transaction(async (tx) => {
        await createUserStore(tx).setPasswordHash(user.id, passwordHash);
        await audited(tx, { event: "password.changed", userId: user.id, email: user.email });
      });
    },

    /** Disables or enables a user's sign-in; their existing tokens stop working at the next refresh. */
    async setDisabled(email: string, disabled: boolean): Promise<User> {
      return db.transaction(async (tx) => {
        const user = await createUserStore(tx).setDisabled(email, disabled);
        await audited(tx, { event: disabled ? "user.disabled" : "user.enabled", userId: user.id, email: user.email });
        return user;
      });
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
      const client = await db.transaction(async (tx) => {
        const created = await createClientStore(tx).create({
          id: input.id,
          name: input.name?.trim() || null,
          secretHash: secret ? hashClientSecret(secret) : null,
          redirectUris,
          postLogoutRedirectUris,
          firstParty: service ? false : input.firstParty,
          service,
        });
        const kind = service ? "service" : secret ? "confidential" : "public";
        await audited(tx, { event: "client.created", clientId: created.id, details: { kind, first_party: created.firstParty } });
        return created;
      });
      return { client, secret };
    },

    /** Removes a client and everything issued to it, in one transaction. */
    async removeClient(id: string): Promise<void> {
      await db.transaction(async (tx) => {
        await createClientStore(tx).remove(id);
        await createOidcPayloadStore(tx).revokeByClientId(id);
        await audited(tx, { event: "client.removed", clientId: id });
      });
    },

    /** Records a signing key made by `idp keys generate` (the key lives in a file, not in the database). */
    async keyGenerated(kid: string): Promise<void> {
      await audited(db, { event: "key.generated", details: { kid } });
    },
  };
}

export type Admin = ReturnType<typeof createAdmin>;
