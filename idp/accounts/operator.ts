// Operator actions (what `idp users`, `idp clients` and `idp keys` change, and the admin API and
// console: one implementation of each): input is validated here, so nothing invalid reaches the
// store, and each change is written together with its audit event (the actor, the target, what
// changed), and the webhooks that report it (idp/webhooks/), in one transaction. The lockout
// mechanics stay in abuse/; unlock calls them.
import type { Database, Queryable } from "../db/database.ts";
import { accountKey, type Lockout } from "../abuse/lockout.ts";
import type { AuditEvent, AuditStore } from "../store/audit.ts";
import type { Client, ClientKind, ClientStore } from "../store/clients.ts";
import type { OidcPayloadStore } from "../store/oidc-payloads.ts";
import type { User, UserStore } from "../store/users.ts";
import { NotFoundError } from "../store/errors.ts";
import { rotateSigningKey, type Rotation } from "../keys/rotation.ts";
import type { Config } from "../config.ts";
import { generateClientSecret, hashClientSecret } from "./client-secrets.ts";
import type { PasswordHasher } from "./passwords.ts";
import { LOOPBACK_NAMES } from "../http/authority.ts";
import { passwordProblem, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from "./password-policy.ts";
import { normalisePhone } from "../sms/phone-numbers.ts";
import type { WebhookStore } from "../store/webhooks.ts";
import { reportUser } from "../webhooks/events.ts";
import { nativeRedirectUriProblem } from "../oidc/native-redirects.ts";

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

/** A phone number in international format, as E.164; the operator names no country, so it must start with + or 00. */
export function validatePhone(phone: string): string {
  const normalised = normalisePhone(phone);
  if (!normalised.ok) throw new InvalidInputError(`"${phone}" is not a phone number in international format, such as +4915112345678`);
  return normalised.e164;
}

function absoluteUrl(uri: string): URL {
  try {
    return new URL(uri);
  } catch {
    throw new InvalidInputError(`"${uri}" is not an absolute URL`);
  }
}

/** Redirect URIs are matched exactly, so they must be absolute, without fragment, and https unless local. */
export function validateRedirectUri(uri: string): string {
  const url = absoluteUrl(uri);
  if (url.hash) throw new InvalidInputError(`"${uri}" must not contain a fragment`);
  const local = LOOPBACK_NAMES.includes(url.hostname);
  if (url.protocol === "http:" && !local) throw new InvalidInputError(`"${uri}" must use https (http is allowed for localhost only)`);
  if (!["http:", "https:"].includes(url.protocol) && !/^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/.test(url.protocol)) {
    throw new InvalidInputError(`"${uri}" must be https, local http, or a reverse-domain app scheme`);
  }
  return uri;
}

/** A mobile or desktop app's redirect URI (RFC 8252; oidc/native-redirects.ts). */
export function validateNativeRedirectUri(uri: string): string {
  const problem = nativeRedirectUriProblem(uri);
  if (problem) throw new InvalidInputError(problem);
  return uri;
}

export const LOGO_URI_MAX_LENGTH = 2048;

/**
 * A client's logo is fetched by every browser that shows its sign-in page: an absolute https URL
 * (http only for localhost, 127.0.0.1 and [::1]), with no user name or password in it, of at most
 * 2048 characters. Returns it as the URL parser writes it (host lower-cased, spaces escaped).
 */
export function validateLogoUri(uri: string): string {
  const url = absoluteUrl(uri.trim());
  // First, and without repeating the URI: it may hold a password.
  if (url.username || url.password) throw new InvalidInputError("a logo URI must not contain a user name or password");
  if (url.protocol !== "https:" && !(url.protocol === "http:" && LOOPBACK_NAMES.includes(url.hostname))) {
    throw new InvalidInputError(`logo URI "${uri}" must use https (http is allowed for localhost only)`);
  }
  if (url.href.length > LOGO_URI_MAX_LENGTH) throw new InvalidInputError(`a logo URI must be at most ${LOGO_URI_MAX_LENGTH} characters`);
  return url.href;
}

export const CLIENT_NAME_MAX_LENGTH = 100;

/** The name the sign-in pages show for a client: trimmed, at most 100 characters, no control characters; blank is none. */
export function validateClientName(name: string | undefined): string | null {
  const trimmed = name?.trim();
  if (!trimmed) return null;
  if ([...trimmed].length > CLIENT_NAME_MAX_LENGTH) throw new InvalidInputError(`a client name must be at most ${CLIENT_NAME_MAX_LENGTH} characters`);
  if (/[\p{Cc}\u2028\u2029]/u.test(trimmed)) throw new InvalidInputError("a client name must not contain control characters");
  return trimmed;
}

const CLIENT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** What a service token may do in the admin API (idp/admin/): one scope per kind of action. */
export const ADMIN_SCOPES = ["admin:users:read", "admin:users:write", "admin:sessions:revoke", "admin:clients", "admin:keys", "admin:audit:read"] as const;
export type AdminScope = (typeof ADMIN_SCOPES)[number];

const ROLE = /^[a-z][a-z0-9_.:-]{0,63}$/;
export const MAX_ROLES = 32;

/**
 * Role names: lower-case letters, digits and _ . : - (starting with a letter), at most 64
 * characters and 32 roles. Returned deduplicated and sorted, so the `roles` claim of one person is
 * the same array in every token (a changing claim would flush Convex's query cache).
 */
export function validateRoles(roles: string[]): string[] {
  const cleaned = [...new Set(roles.map((role) => role.trim()).filter(Boolean))].sort();
  for (const role of cleaned) {
    if (!ROLE.test(role)) throw new InvalidInputError(`"${role}" is not a role name: lower-case letters, digits, _ . : - starting with a letter, at most 64 characters`);
  }
  if (cleaned.length > MAX_ROLES) throw new InvalidInputError(`a user may have at most ${MAX_ROLES} roles`);
  return cleaned;
}

/** A service client's scopes: only the admin API's (ADMIN_SCOPES), deduplicated and sorted. */
export function validateScopes(scopes: string[]): string[] {
  const cleaned = [...new Set(scopes.map((scope) => scope.trim()).filter(Boolean))].sort();
  for (const scope of cleaned) {
    if (!(ADMIN_SCOPES as readonly string[]).includes(scope)) throw new InvalidInputError(`"${scope}" is not a scope: use ${ADMIN_SCOPES.join(", ")}`);
  }
  return cleaned;
}

/** Which user an action is for: an email (what the CLI takes) or { id } / { email }. */
export type UserTarget = string | { id: string } | { email: string };

/** A kind of sign-in factor that "reset factors" removes (the mfa and passkeys modules add theirs). */
export type FactorReset = {
  /** Its name in the audit event: "totp", "recovery_codes", "passkeys", ... */
  kind: string;
  /**
   * Removes the user's factors of this kind inside the transaction; how many went (and, for the
   * caller's output, what went in detail). `actor` (with `actorDetails`) is who asked, for the audit
   * event and the "your sign-in methods changed" mail the module sends.
   */
  reset(tx: Queryable, user: User, actor: string, actorDetails?: Record<string, string>): Promise<number | { count: number; details: FactorResetDetails }>;
};
export type FactorResetDetails = Record<string, number | boolean>;

export type NewUserInput = {
  email: string;
  name?: string;
  emailVerified?: boolean;
  password: string;
  phone?: string;
  phoneVerified?: boolean;
  /** Role names (validateRoles); `--role admin` makes an administrator. */
  roles?: string[];
};

export type NewClientInput = {
  id: string;
  /** The display name on the sign-in pages. */
  name?: string;
  /** The logo on the sign-in pages (validateLogoUri). */
  logoUri?: string;
  redirectUris: string[];
  postLogoutRedirectUris?: string[];
  public: boolean;
  firstParty: boolean;
  /** A server using client_credentials: confidential, no redirect URIs. */
  service?: boolean;
  /** native: a mobile or desktop app (RFC 8252); device: the device authorization grant (RFC 8628). Both public. Default web. */
  kind?: ClientKind;
  /** Everyone signing in to it needs a second factor (`--require-mfa`). */
  requireMfa?: boolean;
  /** Whether its ID tokens carry the person's `roles` claim. */
  rolesClaim?: boolean;
  /** A service client's admin API scopes (validateScopes). */
  scopes?: string[];
};

/** The stores an operator action writes, over one queryable. */
export type OperatorStores = { users: UserStore; clients: ClientStore; payloads: OidcPayloadStore; audit: AuditStore; webhooks: WebhookStore };

export type OperatorDeps = {
  /** Opens the transaction each change runs in. */
  db: Database;
  /**
   * Builds the stores over a queryable: the pool, or the connection of the transaction that writes
   * a change with its audit event. The composition root supplies it (with its clock), so this
   * module never constructs a store and a test double can stand in for any of them.
   */
  stores: (queryable: Queryable) => OperatorStores;
  hasher: Pick<PasswordHasher, "hash">;
  /**
   * The sign-in lockout, for unlock. A function: the root opens the counters (Redis, perhaps) only
   * when an unlock needs them, and closes them itself.
   */
  lockout: () => Promise<Lockout>;
  /** Who acts, as the audit trail names them; the CLI is "cli" (the default). */
  actor?: string;
  /** Added to every audit event's details, e.g. { os_user: "alice" }. Never a secret. */
  actorDetails?: Record<string, string>;
  /** The second factors "reset factors" removes; none until a factor module adds its own. */
  factorResets?: FactorReset[];
  /** Where the signing keys live and their lifetimes, for rotateKey; the clock. */
  keys?: { config: Parameters<typeof rotateSigningKey>[0] & Pick<Config, "keysDir">; now: () => Date };
};

/** Every change an operator makes to accounts, clients and keys; each is audited. */
export interface Operator {
  /** The same actions, audited as another actor: `client:<id>` (the admin API), `user:<id>` (the console). */
  as(actor: string, actorDetails?: Record<string, string>): Operator;
  addUser(input: NewUserInput): Promise<User>;
  /** Adds (and removes) roles, or replaces them all (`set`). Tokens issued from now on carry them. */
  setRoles(user: UserTarget, change: { add?: string[]; remove?: string[]; set?: string[] }): Promise<User>;
  /** Changes the name (null removes it) and whether the email counts as verified. */
  updateProfile(user: UserTarget, profile: { name?: string | null; emailVerified?: boolean }): Promise<User>;
  /** Removes the user's second factors (FactorReset) and signs them out everywhere, so they enrol again. */
  resetFactors(user: UserTarget): Promise<{ user: User; reset: Record<string, number>; details: Record<string, FactorResetDetails> }>;
  /** Signs the user out everywhere: sessions, grants and every token under them (refresh tokens fail at once). */
  revokeSessions(user: UserTarget): Promise<{ user: User; revoked: number }>;
  setPassword(email: string, password: string): Promise<void>;
  /**
   * Sets (in international format; validatePhone) or removes (null) a user's phone number, and
   * whether it counts as verified. Tokens issued from now on carry it.
   */
  setPhone(email: string, phone: string | null, verified: boolean): Promise<User>;
  /** Disables or enables a user's sign-in; their existing tokens stop working at the next refresh. */
  setDisabled(user: UserTarget, disabled: boolean): Promise<User>;
  /**
   * Deletes a user for a data-protection request: the account, its one-time tokens and codes, and
   * its sessions and grants (so its refresh tokens stop working), with a user.deleted webhook that
   * carries only the id. The audit event keeps the id, not the address.
   */
  deleteUser(email: string): Promise<User>;
  /**
   * Ends a sign-in lock now and forgets the email's failures and lock history. Returns whether it
   * was locked. Works for unknown emails too: they lock like real ones.
   */
  unlock(email: string): Promise<boolean>;
  /** Creates a client; for a confidential one, returns the secret, which is never shown again. */
  addClient(input: NewClientInput): Promise<{ client: Client; secret?: string }>;
  /** Replaces a client's redirect URIs (validated for its kind), and its post-logout ones when given. */
  setRedirectUris(id: string, redirectUris: string[], postLogoutRedirectUris?: string[]): Promise<Client>;
  /** Removes a client and everything issued to it, in one transaction. */
  removeClient(id: string): Promise<void>;
  /** Records a signing key made by `idp keys generate` or `rotate` (the key lives in a file, not in the database). */
  keyGenerated(kid: string): Promise<void>;
  /** `idp keys rotate`: adds the next signing key (keys/rotation.ts) and records it. Needs deps.keys. */
  rotateKey(options: { immediate?: boolean; revokeCurrent?: boolean }): Promise<Rotation>;
}

export function createOperator(deps: OperatorDeps): Operator {
  const { db, stores, hasher } = deps;
  const actor = deps.actor ?? "cli";
  const audited = (audit: AuditStore, event: Omit<AuditEvent, "actor">) =>
    audit.record({ ...event, actor, details: { ...deps.actorDetails, ...event.details } });
  /** The user an action is for, or NotFoundError. */
  const find = async (users: UserStore, target: UserTarget): Promise<User> => {
    const ref = typeof target === "string" ? { email: target.trim() } : target;
    const user = "id" in ref ? await users.findById(ref.id) : await users.findByEmail(ref.email);
    if (!user) throw new NotFoundError("id" in ref ? `no user with id ${ref.id}` : `no user with email ${ref.email}`);
    return user;
  };

  return {
    as(other, actorDetails) {
      return createOperator({ ...deps, actor: other, actorDetails });
    },

    async setRoles(target, change) {
      const add = validateRoles(change.add ?? []);
      const remove = validateRoles(change.remove ?? []);
      const set = change.set === undefined ? undefined : validateRoles(change.set);
      return db.transaction(async (tx) => {
        const { users, audit, webhooks } = stores(tx);
        const user = await find(users, target);
        const roles = validateRoles(set ?? [...user.roles.filter((role) => !remove.includes(role)), ...add]);
        const updated = await users.setRoles(user.id, roles);
        await audited(audit, {
          event: "user.roles_changed",
          userId: user.id,
          email: user.email,
          details: {
            roles: roles.join(","),
            added: roles.filter((role) => !user.roles.includes(role)).join(","),
            removed: user.roles.filter((role) => !roles.includes(role)).join(","),
          },
        });
        await reportUser(webhooks, { type: "user.updated", user: updated });
        return updated;
      });
    },

    async updateProfile(target, profile) {
      const name = profile.name === undefined ? undefined : profile.name === null ? null : validateClientName(profile.name);
      return db.transaction(async (tx) => {
        const { users, audit, webhooks } = stores(tx);
        const user = await find(users, target);
        const updated = await users.updateProfile(user.id, { name, emailVerified: profile.emailVerified });
        const changed: Record<string, string | boolean | null> = {};
        if (updated.name !== user.name) changed.name = updated.name;
        if (updated.emailVerified !== user.emailVerified) changed.email_verified = updated.emailVerified;
        await audited(audit, { event: "user.updated", userId: user.id, email: user.email, details: { changed: Object.keys(changed).join(","), ...changed } });
        await reportUser(webhooks, { type: "user.updated", user: updated });
        return updated;
      });
    },

    async resetFactors(target) {
      return db.transaction(async (tx) => {
        const { users, payloads, audit } = stores(tx);
        const user = await find(users, target);
        const reset: Record<string, number> = {};
        const details: Record<string, FactorResetDetails> = {};
        for (const factor of deps.factorResets ?? []) {
          const outcome = await factor.reset(tx, user, actor, deps.actorDetails);
          reset[factor.kind] = typeof outcome === "number" ? outcome : outcome.count;
          if (typeof outcome !== "number") details[factor.kind] = outcome.details;
        }
        // Whoever holds a session made with the old factors is signed out with them.
        const revoked = await payloads.revokeByAccountId(user.id);
        await audited(audit, { event: "user.factors_reset", userId: user.id, email: user.email, details: { ...reset, sessions_revoked: revoked } });
        return { user, reset, details };
      });
    },

    async revokeSessions(target) {
      return db.transaction(async (tx) => {
        const { users, payloads, audit } = stores(tx);
        const user = await find(users, target);
        const revoked = await payloads.revokeByAccountId(user.id);
        await audited(audit, { event: "user.sessions_revoked", userId: user.id, email: user.email, details: { revoked } });
        return { user, revoked };
      });
    },

    async setRedirectUris(id, redirectUris, postLogoutRedirectUris) {
      return db.transaction(async (tx) => {
        const { clients, audit } = stores(tx);
        const client = await clients.find(id);
        if (!client) throw new NotFoundError(`no client with id ${id}`);
        if (client.service || client.kind === "device") throw new InvalidInputError(`client ${id} signs nobody in through a redirect: it takes no redirect URIs`);
        if (redirectUris.length === 0) throw new InvalidInputError("at least one redirect URI is required");
        const validateUri = client.kind === "native" ? validateNativeRedirectUri : validateRedirectUri;
        const updated = await clients.setRedirectUris(id, redirectUris.map(validateUri), postLogoutRedirectUris?.map(validateUri));
        await audited(audit, {
          event: "client.updated",
          clientId: id,
          details: {
            redirect_uris: updated.redirectUris.join(" "),
            previous_redirect_uris: client.redirectUris.join(" "),
            ...(postLogoutRedirectUris ? { post_logout_redirect_uris: updated.postLogoutRedirectUris.join(" ") } : {}),
          },
        });
        return updated;
      });
    },

    async rotateKey(options) {
      if (!deps.keys) throw new Error("this operator cannot rotate keys: it was built without the keys directory");
      if (options.revokeCurrent && !options.immediate) throw new InvalidInputError("revoking the current key goes with an immediate rotation");
      // The database first, so that a key is made only when its audit event can be recorded.
      await db.query("SELECT 1");
      const rotation = await rotateSigningKey(deps.keys.config, { now: deps.keys.now(), immediate: options.immediate, revokeCurrent: options.revokeCurrent });
      await audited(stores(db).audit, {
        event: "key.generated",
        details: {
          kid: rotation.key.kid,
          activates_at: rotation.activatesAt.toISOString(),
          replaced: rotation.replaced?.kid ?? null,
          revoked: rotation.revoked?.kid ?? null,
        },
      });
      return rotation;
    },

    async addUser(input) {
      const email = validateEmail(input.email);
      const phone = input.phone === undefined ? null : validatePhone(input.phone);
      if (input.phoneVerified && !phone) throw new InvalidInputError("a phone number can only be verified when there is one");
      const roles = validateRoles(input.roles ?? []);
      validatePassword(input.password, { email });
      // Hash before the transaction: argon2 takes a while and should not hold a connection open.
      const passwordHash = await hasher.hash(input.password);
      return db.transaction(async (tx) => {
        const { users, audit } = stores(tx);
        const user = await users.create({
          email,
          name: input.name?.trim() || null,
          emailVerified: input.emailVerified ?? false,
          passwordHash,
          phone,
          phoneVerified: input.phoneVerified ?? false,
          roles,
        });
        await audited(audit, { event: "user.created", userId: user.id, email: user.email, ...(roles.length ? { details: { roles: roles.join(",") } } : {}) });
        await reportUser(stores(tx).webhooks, { type: "user.created", user });
        return user;
      });
    },

    async setPassword(email, password) {
      validatePassword(password, { email });
      const user = await stores(db).users.findByEmail(email);
      if (!user) throw new InvalidInputError(`no user with email ${email}`);
      const passwordHash = await hasher.hash(password);
      await db.transaction(async (tx) => {
        const { users, audit } = stores(tx);
        await users.setPasswordHash(user.id, passwordHash);
        await audited(audit, { event: "password.changed", userId: user.id, email: user.email });
      });
    },

    async setPhone(email, phone, verified) {
      const e164 = phone === null ? null : validatePhone(phone);
      if (verified && !e164) throw new InvalidInputError("a phone number can only be verified when there is one");
      return db.transaction(async (tx) => {
        const { users, audit } = stores(tx);
        const user = await users.setPhone({ email }, e164, verified);
        await audited(audit, { event: "user.phone_changed", userId: user.id, email: user.email, details: { phone: user.phone, verified: user.phoneVerified } });
        await reportUser(stores(tx).webhooks, { type: "user.updated", user });
        return user;
      });
    },

    async setDisabled(target, disabled) {
      return db.transaction(async (tx) => {
        const { users, audit, webhooks } = stores(tx);
        const user = await users.setDisabled((await find(users, target)).email, disabled);
        await audited(audit, { event: disabled ? "user.disabled" : "user.enabled", userId: user.id, email: user.email });
        await reportUser(webhooks, { type: disabled ? "user.disabled" : "user.enabled", user });
        return user;
      });
    },

    async deleteUser(email) {
      return db.transaction(async (tx) => {
        const { users, payloads, audit, webhooks } = stores(tx);
        const user = await users.remove(email.trim());
        if (!user) throw new InvalidInputError(`no user with email ${email}`);
        const revoked = await payloads.revokeByAccountId(user.id);
        await audited(audit, { event: "user.deleted", userId: user.id, details: { revoked } });
        await reportUser(webhooks, { type: "user.deleted", userId: user.id });
        return user;
      });
    },

    async unlock(email) {
      // The counters may live in Redis: no transaction spans them and the audit row. The unlock
      // comes first, so a recorded account.unlocked always happened.
      const wasLocked = await (await deps.lockout()).unlock(accountKey(email));
      const { users, audit } = stores(db);
      const user = await users.findByEmail(email.trim());
      await audited(audit, { event: "account.unlocked", userId: user?.id ?? null, email: email.trim(), details: { reason: "operator", wasLocked } });
      return wasLocked;
    },

    async addClient(input) {
      if (!CLIENT_ID.test(input.id)) throw new InvalidInputError("client id must be 1-100 letters, digits, '.', '_' or '-'");
      const service = input.service ?? false;
      const scopes = validateScopes(input.scopes ?? []);
      if (scopes.length > 0 && !service) throw new InvalidInputError("only a service client (--service) holds scopes");
      if (service && input.rolesClaim) throw new InvalidInputError("a service client has no ID tokens: it takes no roles claim");
      if (service && input.public) throw new InvalidInputError("a service client is confidential: it cannot be --public");
      if (service && (input.redirectUris.length > 0 || (input.postLogoutRedirectUris ?? []).length > 0)) {
        throw new InvalidInputError("a service client signs nobody in: it takes no redirect URIs");
      }
      const kind = input.kind ?? "web";
      if (service && kind !== "web") throw new InvalidInputError(`a service client cannot also be a ${kind} client`);
      if (kind === "device" && (input.redirectUris.length > 0 || (input.postLogoutRedirectUris ?? []).length > 0)) {
        throw new InvalidInputError("a device client signs in with a code typed elsewhere: it takes no redirect URIs");
      }
      if (!service && kind !== "device" && input.redirectUris.length === 0) throw new InvalidInputError("at least one --redirect-uri is required");
      const name = validateClientName(input.name);
      const logoUri = input.logoUri === undefined ? null : validateLogoUri(input.logoUri);
      const validateUri = kind === "native" ? validateNativeRedirectUri : validateRedirectUri;
      const redirectUris = input.redirectUris.map(validateUri);
      const postLogoutRedirectUris = (input.postLogoutRedirectUris ?? []).map(validateUri);
      // An app on someone's device or a command-line tool cannot keep a secret (RFC 8252 §8.5).
      const secret = input.public || kind !== "web" ? undefined : generateClientSecret();
      const client = await db.transaction(async (tx) => {
        const { clients, audit } = stores(tx);
        const created = await clients.create({
          id: input.id,
          name,
          logoUri,
          secretHash: secret ? hashClientSecret(secret) : null,
          redirectUris,
          postLogoutRedirectUris,
          firstParty: service ? false : input.firstParty,
          service,
          kind,
          requireMfa: input.requireMfa ?? false,
          rolesClaim: input.rolesClaim ?? false,
          scopes,
        });
        const type = service ? "service" : secret ? "confidential" : "public";
        await audited(audit, {
          event: "client.created",
          clientId: created.id,
          details: {
            kind: type,
            first_party: created.firstParty,
            ...(kind !== "web" ? { application_type: kind } : {}),
            ...(created.requireMfa ? { require_mfa: true } : {}),
            ...(created.rolesClaim ? { roles_claim: true } : {}),
            ...(scopes.length ? { scopes: scopes.join(" ") } : {}),
          },
        });
        return created;
      });
      return { client, secret };
    },

    async removeClient(id) {
      await db.transaction(async (tx) => {
        const { clients, payloads, audit } = stores(tx);
        await clients.remove(id);
        await payloads.revokeByClientId(id);
        await audited(audit, { event: "client.removed", clientId: id });
      });
    },

    async keyGenerated(kid) {
      await audited(stores(db).audit, { event: "key.generated", details: { kid } });
    },
  };
}
