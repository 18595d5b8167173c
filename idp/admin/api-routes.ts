// The admin API under /admin/api/v1: JSON routes, each with request and response schemas, from
// which @fastify/swagger builds the OpenAPI document at /admin/api/openapi.json (public). Callers
// are service clients (service-auth.ts); each route names the one scope it needs. Handlers are
// short: every change goes through the operator module (accounts/operator.ts), the same code the
// CLI runs, audited as client:<id>.
import type { FastifyInstance, FastifyRequest } from "fastify";
import swagger from "@fastify/swagger";
import { Ajv } from "ajv";
import addFormats from "ajv-formats";
import { ADMIN_SCOPES, InvalidInputError, type AdminScope, type Operator } from "../accounts/operator.ts";
import type { Invitations } from "../accounts/invitations.ts";
import type { Config } from "../config.ts";
import { keySchedulePolicy } from "../config.ts";
import type { KeyRing } from "../keys/key-ring.ts";
import { keySchedule } from "../keys/key-schedule.ts";
import { loadSigningKeys } from "../keys/signing-keys.ts";
import type { AuditStore, StoredAuditEvent } from "../store/audit.ts";
import type { Client, ClientStore } from "../store/clients.ts";
import { ConflictError, NotFoundError } from "../store/errors.ts";
import type { User, UserCursor, UserStore } from "../store/users.ts";
import type { ErrorResponses } from "../http/error-responses.ts";
import { IdpError, idpErrors } from "../errors.ts";
import { insufficientScope, type ServiceAuth, type ServiceCaller } from "./service-auth.ts";

export const ADMIN_API_PREFIX = "/admin/api/v1";
export const OPENAPI_PATH = "/admin/api/openapi.json";

export type AdminApiDeps = {
  config: Pick<Config, "issuer" | "keysDir" | "defaultLocale" | "idTokenTtlSeconds" | "serviceTokenTtlSeconds" | "keyRotationMarginSeconds">;
  operator: Operator;
  users: UserStore;
  clients: ClientStore;
  audit: AuditStore;
  keyRing: KeyRing;
  auth: ServiceAuth;
  errorResponses: ErrorResponses;
  /** Invitations by mail; absent where mail cannot go out or SIGN_UP=off (then creating a user needs a password). */
  invitations?: Invitations;
  now: () => Date;
};

declare module "fastify" {
  interface FastifyContextConfig {
    /** The scope an admin API route needs. */
    adminScope?: AdminScope;
  }
  interface FastifyRequest {
    serviceCaller?: ServiceCaller;
  }
}

const SCOPE_DESCRIPTIONS: Record<AdminScope, string> = {
  "admin:users:read": "list and read users",
  "admin:users:write": "create, change, disable, unlock users; set roles; reset factors",
  "admin:sessions:revoke": "sign a user out everywhere",
  "admin:clients": "list, create, change and remove clients",
  "admin:keys": "list and rotate signing keys",
  "admin:audit:read": "read the audit trail",
};

// JSON schemas, shared by the routes and the document.
const nullableString = { type: ["string", "null"] } as const;
const dateTime = { type: "string", format: "date-time" } as const;
const errorBody = {
  type: "object",
  required: ["error"],
  properties: { error: { type: "string" }, error_description: { type: "string" } },
} as const;
const roleList = { type: "array", maxItems: 32, items: { type: "string", pattern: "^[a-z][a-z0-9_.:-]{0,63}$" } } as const;
const userJson = {
  type: "object",
  required: ["id", "email", "email_verified", "name", "phone", "phone_verified", "roles", "disabled", "created_at", "updated_at"],
  properties: {
    id: { type: "string" },
    email: { type: "string" },
    email_verified: { type: "boolean" },
    name: nullableString,
    phone: nullableString,
    phone_verified: { type: "boolean" },
    roles: { type: "array", items: { type: "string" } },
    disabled: { type: "boolean" },
    created_at: dateTime,
    updated_at: dateTime,
  },
} as const;
const clientJson = {
  type: "object",
  required: ["id", "name", "kind", "confidential", "first_party", "redirect_uris", "post_logout_redirect_uris", "roles_claim", "scopes", "created_at"],
  properties: {
    id: { type: "string" },
    name: nullableString,
    kind: { type: "string", enum: ["web", "native", "device", "service"] },
    confidential: { type: "boolean" },
    first_party: { type: "boolean" },
    redirect_uris: { type: "array", items: { type: "string" } },
    post_logout_redirect_uris: { type: "array", items: { type: "string" } },
    roles_claim: { type: "boolean" },
    scopes: { type: "array", items: { type: "string" } },
    created_at: dateTime,
  },
} as const;
const auditJson = {
  type: "object",
  required: ["id", "occurred_at", "event", "actor", "user_id", "email", "client_id", "ip", "details"],
  properties: {
    id: { type: "string" },
    occurred_at: dateTime,
    event: { type: "string" },
    actor: { type: "string" },
    user_id: nullableString,
    email: nullableString,
    client_id: nullableString,
    ip: nullableString,
    details: { type: "object", additionalProperties: { type: ["string", "number", "boolean", "null"] } },
  },
} as const;
const keyJson = {
  type: "object",
  required: ["kid", "status", "created_at", "activates_at", "retires_at", "revoked_at"],
  properties: {
    kid: { type: "string" },
    status: { type: "string", enum: ["next", "signing", "retiring", "retired", "revoked", "published"] },
    created_at: dateTime,
    activates_at: { type: ["string", "null"], format: "date-time" },
    retires_at: { type: ["string", "null"], format: "date-time" },
    revoked_at: { type: ["string", "null"], format: "date-time" },
  },
} as const;
const idParams = { type: "object", required: ["id"], properties: { id: { type: "string", minLength: 1, maxLength: 100 } } } as const;
const cursorField = { type: "string", maxLength: 200, pattern: "^[A-Za-z0-9_-]*$" } as const;
const limitField = { type: "integer", minimum: 1, maximum: 200, default: 50 } as const;
const uriList = { type: "array", maxItems: 20, items: { type: "string", minLength: 1, maxLength: 2048 } } as const;

const errors = (...statuses: number[]) => Object.fromEntries(statuses.map((status) => [status, errorBody]));
const STANDARD_ERRORS = [400, 401, 403];

export const toUserJson = (user: User) => ({
  id: user.id,
  email: user.email,
  email_verified: user.emailVerified,
  name: user.name,
  phone: user.phone,
  phone_verified: user.phoneVerified,
  roles: user.roles,
  disabled: user.disabled,
  created_at: user.createdAt.toISOString(),
  updated_at: user.updatedAt.toISOString(),
});

export const toClientJson = (client: Client) => ({
  id: client.id,
  name: client.name,
  kind: client.service ? "service" : client.kind,
  confidential: client.secretHash !== null,
  first_party: client.firstParty,
  redirect_uris: client.redirectUris,
  post_logout_redirect_uris: client.postLogoutRedirectUris,
  roles_claim: client.rolesClaim,
  scopes: client.scopes,
  created_at: client.createdAt.toISOString(),
});

const toAuditJson = (event: StoredAuditEvent) => ({
  id: event.id,
  occurred_at: event.occurredAt.toISOString(),
  event: event.event,
  actor: event.actor,
  user_id: event.userId,
  email: event.email,
  client_id: event.clientId,
  ip: event.ip,
  details: event.details,
});

/** A users page cursor as an opaque string: base64url of "<micros>.<id>". */
export const encodeUserCursor = (cursor: UserCursor) => Buffer.from(`${cursor.createdAtMicros}.${cursor.id}`).toString("base64url");
export function decodeUserCursor(text: string | undefined): UserCursor | undefined {
  if (!text) return undefined;
  const match = /^(\d{1,20})\.(.{1,100})$/s.exec(Buffer.from(text, "base64url").toString("utf8"));
  if (!match) throw idpErrors.invalidRequest("querystring/cursor is not a cursor this API gave");
  return { createdAtMicros: match[1]!, id: match[2]! };
}

/** The operator's and the stores' errors as the API answers them: 400 naming the problem, 404, 409. */
export function apiError(error: unknown): unknown {
  const status = error instanceof InvalidInputError ? 400 : error instanceof NotFoundError ? 404 : error instanceof ConflictError ? 409 : undefined;
  if (status === undefined) return error;
  return new IdpError({
    status,
    code: status === 404 ? "not_found" : status === 409 ? "conflict" : "invalid_request",
    title: status === 404 ? "error.notFound.title" : "error.invalidRequest.title",
    message: { id: status === 404 ? "error.notFound.message" : "error.invalidRequest.message" },
    description: (error as Error).message,
  });
}

export async function adminApiRoutes(app: FastifyInstance, deps: AdminApiDeps): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: "3.0.3",
      info: { title: "convex-idp admin API", version: "1.0.0", description: "Users, clients, signing keys and the audit trail. Authenticate with a service token (client_credentials) holding the scope each operation names." },
      servers: [{ url: new URL(deps.config.issuer).origin }],
      components: {
        securitySchemes: {
          serviceToken: {
            type: "oauth2",
            flows: { clientCredentials: { tokenUrl: `${deps.config.issuer}/token`, scopes: SCOPE_DESCRIPTIONS } },
          },
        },
      },
    },
  });
  app.get(OPENAPI_PATH, { schema: { hide: true } }, async (_request, reply) => reply.header("cache-control", "public, max-age=300").send(app.swagger()));

  // Unknown fields are refused (400), not silently dropped as Fastify's default validator does: a
  // caller who misspells a field learns it, and nothing half-applied changes.
  const ajv = new Ajv({ removeAdditional: false, useDefaults: true, coerceTypes: "array", allErrors: false, strict: false });
  addFormats.default(ajv);
  await app.register(async (api) => {
    api.setValidatorCompiler(({ schema }) => ajv.compile(schema));
    api.setErrorHandler((error, request, reply) => deps.errorResponses.send(request, reply, apiError(error)));
    // Authentication first (401), then the route's scope (403), then the body's schema (400).
    api.addHook("onRequest", async (request) => {
      const caller = await deps.auth.authenticate(request.headers.authorization);
      const needed = request.routeOptions.config.adminScope;
      if (!needed || !caller.scopes.has(needed)) throw insufficientScope(needed ?? "admin");
      request.serviceCaller = caller;
    });
    api.addHook("onSend", async (_request, reply) => void reply.header("cache-control", "no-store"));

    const as = (request: FastifyRequest) => deps.operator.as(`client:${request.serviceCaller!.clientId}`);
    const route = (scope: AdminScope, tags: string, summary: string, schema: Record<string, unknown>, statuses: number[] = STANDARD_ERRORS) => ({
      config: { adminScope: scope },
      schema: {
        tags: [tags],
        summary,
        security: [{ serviceToken: [scope] }],
        ...schema,
        response: { ...(schema.response as object), ...errors(...statuses, 401, 403) },
      },
    });
    const found = async (id: string) => {
      const user = await deps.users.findById(id);
      if (!user) throw new NotFoundError(`no user with id ${id}`);
      return user;
    };

    // Users
    api.get<{ Querystring: { search?: string; cursor?: string; limit: number } }>(
      `${ADMIN_API_PREFIX}/users`,
      route("admin:users:read", "users", "List users, oldest first; search matches part of the email or name", {
        querystring: { type: "object", additionalProperties: false, properties: { search: { type: "string", maxLength: 320 }, cursor: cursorField, limit: limitField } },
        response: { 200: { type: "object", required: ["users", "next_cursor"], properties: { users: { type: "array", items: userJson }, next_cursor: nullableString } } },
      }),
      async (request) => {
        const page = await deps.users.page({ search: request.query.search, after: decodeUserCursor(request.query.cursor), limit: request.query.limit });
        return { users: page.users.map(toUserJson), next_cursor: page.next ? encodeUserCursor(page.next) : null };
      },
    );

    api.post<{ Body: { email: string; name?: string; password?: string; email_verified?: boolean; roles?: string[]; locale?: string } }>(
      `${ADMIN_API_PREFIX}/users`,
      route(
        "admin:users:write",
        "users",
        "Create a user: with a password at once, or without one by an invitation mail (where mail is configured) that lets them choose it",
        {
          body: {
            type: "object",
            additionalProperties: false,
            required: ["email"],
            properties: {
              email: { type: "string", format: "email", maxLength: 320 },
              name: { type: "string", maxLength: 200 },
              password: { type: "string", minLength: 1, maxLength: 1024 },
              email_verified: { type: "boolean" },
              roles: roleList,
              locale: { type: "string", maxLength: 10 },
            },
          },
          response: {
            201: { type: "object", required: ["user"], properties: { user: userJson } },
            202: { type: "object", required: ["invitation"], properties: { invitation: { type: "object", required: ["email", "roles", "expires_at"], properties: { email: { type: "string" }, roles: { type: "array", items: { type: "string" } }, expires_at: dateTime } } } },
          },
        },
        [400, 409],
      ),
      async (request, reply) => {
        const body = request.body;
        if (body.password !== undefined) {
          const user = await as(request).addUser({ email: body.email, name: body.name, password: body.password, emailVerified: body.email_verified, roles: body.roles });
          return reply.code(201).send({ user: toUserJson(user) });
        }
        if (!deps.invitations) throw new InvalidInputError("body/password is required: this server cannot send invitation mail (no mail transport, or SIGN_UP=off)");
        const invitation = await deps.invitations.invite({
          email: body.email,
          name: body.name,
          roles: body.roles,
          locale: body.locale ?? deps.config.defaultLocale,
          actor: `client:${request.serviceCaller!.clientId}`,
        });
        return reply.code(202).send({ invitation: { email: invitation.email, roles: invitation.roles, expires_at: invitation.expiresAt.toISOString() } });
      },
    );

    api.get<{ Params: { id: string } }>(
      `${ADMIN_API_PREFIX}/users/:id`,
      route("admin:users:read", "users", "Show a user", { params: idParams, response: { 200: userJson } }, [400, 404]),
      async (request) => toUserJson(await found(request.params.id)),
    );

    api.patch<{ Params: { id: string }; Body: { name?: string | null; email_verified?: boolean } }>(
      `${ADMIN_API_PREFIX}/users/:id`,
      route(
        "admin:users:write",
        "users",
        "Update a user's profile: the name (null removes it) and whether the email is verified",
        {
          params: idParams,
          body: { type: "object", additionalProperties: false, minProperties: 1, properties: { name: { type: ["string", "null"], maxLength: 200 }, email_verified: { type: "boolean" } } },
          response: { 200: userJson },
        },
        [400, 404],
      ),
      async (request) => toUserJson(await as(request).updateProfile({ id: request.params.id }, { name: request.body.name, emailVerified: request.body.email_verified })),
    );

    for (const [action, disabled] of [["disable", true], ["enable", false]] as const) {
      api.post<{ Params: { id: string } }>(
        `${ADMIN_API_PREFIX}/users/:id/${action}`,
        route("admin:users:write", "users", disabled ? "Disable a user: no sign-in, and their refresh tokens fail" : "Enable a disabled user", { params: idParams, response: { 200: userJson } }, [400, 404]),
        async (request) => toUserJson(await as(request).setDisabled({ id: request.params.id }, disabled)),
      );
    }

    api.post<{ Params: { id: string } }>(
      `${ADMIN_API_PREFIX}/users/:id/unlock`,
      route(
        "admin:users:write",
        "users",
        "End a sign-in lockout of the user now",
        { params: idParams, response: { 200: { type: "object", required: ["was_locked"], properties: { was_locked: { type: "boolean" } } } } },
        [400, 404],
      ),
      async (request) => ({ was_locked: await as(request).unlock((await found(request.params.id)).email) }),
    );

    api.post<{ Params: { id: string } }>(
      `${ADMIN_API_PREFIX}/users/:id/reset-factors`,
      route(
        "admin:users:write",
        "users",
        "Remove the user's second factors and sign them out everywhere, so they enrol again",
        { params: idParams, response: { 200: { type: "object", required: ["user", "reset"], properties: { user: userJson, reset: { type: "object", additionalProperties: { type: "integer" } } } } } },
        [400, 404],
      ),
      async (request) => {
        const { user, reset } = await as(request).resetFactors({ id: request.params.id });
        return { user: toUserJson(user), reset };
      },
    );

    api.put<{ Params: { id: string }; Body: { roles: string[] } }>(
      `${ADMIN_API_PREFIX}/users/:id/roles`,
      route(
        "admin:users:write",
        "users",
        "Replace a user's roles (the roles claim of clients registered for it)",
        { params: idParams, body: { type: "object", additionalProperties: false, required: ["roles"], properties: { roles: roleList } }, response: { 200: userJson } },
        [400, 404],
      ),
      async (request) => toUserJson(await as(request).setRoles({ id: request.params.id }, { set: request.body.roles })),
    );

    api.post<{ Params: { id: string } }>(
      `${ADMIN_API_PREFIX}/users/:id/revoke-sessions`,
      route(
        "admin:sessions:revoke",
        "users",
        "Sign the user out everywhere: sessions, grants, refresh and access tokens",
        { params: idParams, response: { 200: { type: "object", required: ["revoked"], properties: { revoked: { type: "integer" } } } } },
        [400, 404],
      ),
      async (request) => ({ revoked: (await as(request).revokeSessions({ id: request.params.id })).revoked }),
    );

    // Clients
    api.get(
      `${ADMIN_API_PREFIX}/clients`,
      route("admin:clients", "clients", "List clients, by id", { response: { 200: { type: "object", required: ["clients"], properties: { clients: { type: "array", items: clientJson } } } } }),
      async () => ({ clients: (await deps.clients.list()).map(toClientJson) }),
    );

    api.post<{
      Body: {
        id: string;
        name?: string;
        kind?: "web" | "native" | "device" | "service";
        public?: boolean;
        first_party?: boolean;
        redirect_uris?: string[];
        post_logout_redirect_uris?: string[];
        roles_claim?: boolean;
        scopes?: string[];
      };
    }>(
      `${ADMIN_API_PREFIX}/clients`,
      route(
        "admin:clients",
        "clients",
        "Create a client; a confidential one's secret is in this answer and never again",
        {
          body: {
            type: "object",
            additionalProperties: false,
            required: ["id"],
            properties: {
              id: { type: "string", pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$" },
              name: { type: "string", maxLength: 100 },
              kind: { type: "string", enum: ["web", "native", "device", "service"], default: "web" },
              public: { type: "boolean", default: false },
              first_party: { type: "boolean", default: false },
              redirect_uris: uriList,
              post_logout_redirect_uris: uriList,
              roles_claim: { type: "boolean" },
              scopes: { type: "array", maxItems: ADMIN_SCOPES.length, items: { type: "string", enum: [...ADMIN_SCOPES] } },
            },
          },
          response: { 201: { type: "object", required: ["client", "client_secret"], properties: { client: clientJson, client_secret: nullableString } } },
        },
        [400, 409],
      ),
      async (request, reply) => {
        const body = request.body;
        // A caller gives a new service client only scopes it holds itself: admin:clients alone must
        // not mint a client with admin:users:write or admin:keys.
        const notHeld = (body.scopes ?? []).find((scope) => !request.serviceCaller!.scopes.has(scope));
        if (notHeld !== undefined) throw insufficientScope(notHeld);
        const { client, secret } = await deps.operator.as(`client:${request.serviceCaller!.clientId}`).addClient({
          id: body.id,
          name: body.name,
          redirectUris: body.redirect_uris ?? [],
          postLogoutRedirectUris: body.post_logout_redirect_uris,
          public: body.public ?? false,
          firstParty: body.first_party ?? false,
          service: body.kind === "service",
          kind: body.kind === "service" || body.kind === undefined ? "web" : body.kind,
          rolesClaim: body.roles_claim,
          scopes: body.scopes,
        });
        return reply.code(201).send({ client: toClientJson(client), client_secret: secret ?? null });
      },
    );

    api.put<{ Params: { id: string }; Body: { redirect_uris: string[]; post_logout_redirect_uris?: string[] } }>(
      `${ADMIN_API_PREFIX}/clients/:id/redirect-uris`,
      route(
        "admin:clients",
        "clients",
        "Replace a client's redirect URIs (and post-logout redirect URIs when given)",
        {
          params: idParams,
          body: { type: "object", additionalProperties: false, required: ["redirect_uris"], properties: { redirect_uris: { ...uriList, minItems: 1 }, post_logout_redirect_uris: uriList } },
          response: { 200: clientJson },
        },
        [400, 404],
      ),
      async (request) => toClientJson(await as(request).setRedirectUris(request.params.id, request.body.redirect_uris, request.body.post_logout_redirect_uris)),
    );

    api.delete<{ Params: { id: string } }>(
      `${ADMIN_API_PREFIX}/clients/:id`,
      route("admin:clients", "clients", "Remove a client and revoke everything issued to it", { params: idParams, response: { 204: { type: "null" } } }, [400, 404]),
      async (request, reply) => {
        await as(request).removeClient(request.params.id);
        return reply.code(204).send();
      },
    );

    // Keys
    const timeline = async () =>
      keySchedule(await loadSigningKeys(deps.config.keysDir), deps.now(), keySchedulePolicy(deps.config)).timeline.map((entry) => ({
        kid: entry.key.kid,
        status: entry.status,
        created_at: new Date(entry.key.createdAt).toISOString(),
        activates_at: entry.activatesAt?.toISOString() ?? null,
        retires_at: entry.retiresAt?.toISOString() ?? null,
        revoked_at: entry.key.revokedAt ? new Date(entry.key.revokedAt).toISOString() : null,
      }));
    api.get(
      `${ADMIN_API_PREFIX}/keys`,
      route("admin:keys", "keys", "The signing keys and their rotation timeline", { response: { 200: { type: "object", required: ["keys"], properties: { keys: { type: "array", items: keyJson } } } } }),
      async () => ({ keys: await timeline() }),
    );

    api.post<{ Body: { immediate?: boolean; revoke_current?: boolean } | undefined }>(
      `${ADMIN_API_PREFIX}/keys/rotate`,
      route(
        "admin:keys",
        "keys",
        "Add the next signing key: published now, signing once cached JWKS copies expired (staged), or at once (immediate, optionally revoking the current key)",
        {
          body: { type: "object", additionalProperties: false, properties: { immediate: { type: "boolean" }, revoke_current: { type: "boolean" } } },
          response: {
            201: {
              type: "object",
              required: ["kid", "activates_at", "replaced", "revoked", "warnings", "keys"],
              properties: { kid: { type: "string" }, activates_at: dateTime, replaced: nullableString, revoked: nullableString, warnings: { type: "array", items: { type: "string" } }, keys: { type: "array", items: keyJson } },
            },
          },
        },
      ),
      async (request, reply) => {
        const rotation = await as(request).rotateKey({ immediate: request.body?.immediate, revokeCurrent: request.body?.revoke_current });
        // This instance publishes the new key now; the others within KEYS_RELOAD_INTERVAL.
        await deps.keyRing.refresh();
        return reply.code(201).send({
          kid: rotation.key.kid,
          activates_at: rotation.activatesAt.toISOString(),
          replaced: rotation.replaced?.kid ?? null,
          revoked: rotation.revoked?.kid ?? null,
          warnings: rotation.warnings,
          keys: await timeline(),
        });
      },
    );

    // Audit
    api.get<{ Querystring: { event?: string; actor?: string; user_id?: string; client_id?: string; email?: string; since?: string; until?: string; cursor?: string; limit: number } }>(
      `${ADMIN_API_PREFIX}/audit`,
      route("admin:audit:read", "audit", "Audit events, newest first, filtered and paged", {
        querystring: {
          type: "object",
          additionalProperties: false,
          properties: {
            event: { type: "string", maxLength: 64 },
            actor: { type: "string", maxLength: 200 },
            user_id: { type: "string", maxLength: 100 },
            client_id: { type: "string", maxLength: 100 },
            email: { type: "string", maxLength: 320 },
            since: dateTime,
            until: dateTime,
            cursor: { type: "string", pattern: "^[0-9]{1,19}$" },
            limit: limitField,
          },
        },
        response: { 200: { type: "object", required: ["events", "next_cursor"], properties: { events: { type: "array", items: auditJson }, next_cursor: nullableString } } },
      }),
      async (request) => {
        const q = request.query;
        const page = await deps.audit.query({
          event: q.event,
          actor: q.actor,
          userId: q.user_id,
          clientId: q.client_id,
          email: q.email,
          since: q.since ? new Date(q.since) : undefined,
          until: q.until ? new Date(q.until) : undefined,
          before: q.cursor,
          limit: q.limit,
        });
        return { events: page.events.map(toAuditJson), next_cursor: page.next ?? null };
      },
    );
  });
}
