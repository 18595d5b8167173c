// The admin console at /admin: people with the `admin` role, signed in through the IdP's own
// provider (http/idp-session.ts) with a second factor, read users, clients, keys and the audit
// trail, and change them through the operator module (accounts/operator.ts), audited as user:<id>.
// Everyone else gets 403. Every change is a CSRF-protected POST that needs a sign-in from the last
// 15 minutes.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { levelSatisfies } from "../accounts/authentication-methods.ts";
import { InvalidInputError, type Operator } from "../accounts/operator.ts";
import type { Config } from "../config.ts";
import { keySchedulePolicy } from "../config.ts";
import { IdpError } from "../errors.ts";
import type { IdpSessions } from "../http/idp-session.ts";
import { setPagePolicy } from "../http/security-headers.ts";
import type { KeyRing } from "../keys/key-ring.ts";
import { keySchedule } from "../keys/key-schedule.ts";
import { loadSigningKeys } from "../keys/signing-keys.ts";
import { adminHomePage, auditPage, clientsPage, keysPage, userPage, usersPage, type AdminPage } from "../pages/admin.ts";
import { layout, type View, type Views } from "../pages/layout.ts";
import type { AuditStore } from "../store/audit.ts";
import type { ClientStore } from "../store/clients.ts";
import { NotFoundError } from "../store/errors.ts";
import type { OidcPayloadStore } from "../store/oidc-payloads.ts";
import type { UpstreamStore } from "../store/upstreams.ts";
import type { User, UserStore } from "../store/users.ts";
import { decodeUserCursor, encodeUserCursor } from "./api-routes.ts";
import type { LinkedIdentity, SecondFactorSummary } from "../pages/admin.ts";

/** Destructive actions need a sign-in at most this old (re-authentication). */
export const ADMIN_REAUTH_SECONDS = 900;
export const ADMIN_ROLE = "admin";

export type AdminConsoleDeps = {
  config: Pick<Config, "keysDir" | "idTokenTtlSeconds" | "serviceTokenTtlSeconds" | "keyRotationMarginSeconds">;
  sessions: Pick<IdpSessions, "requireIdpSession">;
  operator: Operator;
  users: UserStore;
  clients: Pick<ClientStore, "list">;
  audit: AuditStore;
  payloads: Pick<OidcPayloadStore, "listByAccountId">;
  /** The user's linked upstream identities, named after their providers (idp/federation/). */
  upstreams: Pick<UpstreamStore, "identitiesOf" | "listProviders">;
  keyRing: KeyRing;
  views: Views;
  /** The user's second factors, for the detail page. */
  secondFactorsOf?: (user: User) => Promise<SecondFactorSummary>;
  now: () => Date;
};

const CSRF_COOKIE = { path: "/admin" };
const ACTIONS = ["disable", "enable", "revoke-sessions", "unlock", "reset-factors", "roles"] as const;
type Action = (typeof ACTIONS)[number];

function forbidden(): IdpError {
  return new IdpError({ status: 403, code: "access_denied", title: "admin.forbidden.title", message: { id: "admin.forbidden.message" }, description: "only administrators can open these pages" });
}

export async function adminConsoleRoutes(app: FastifyInstance, deps: AdminConsoleDeps): Promise<void> {
  const viewFor = (request: FastifyRequest) => deps.views.forRequest({ acceptLanguage: request.headers["accept-language"] });

  /** The signed-in administrator, or undefined once the browser was sent to sign in; 403 for anyone else. */
  async function administrator(request: FastifyRequest, reply: FastifyReply, options: { destructive?: boolean; returnTo?: string } = {}) {
    const session = await deps.sessions.requireIdpSession(request, reply, {
      maxAgeSeconds: options.destructive ? ADMIN_REAUTH_SECONDS : undefined,
      returnTo: options.returnTo,
    });
    if (!session) return undefined;
    const user = await deps.users.findById(session.accountId);
    // Roles are read from the database at every request: a role taken away takes effect at once.
    if (!user || user.disabled || !user.roles.includes(ADMIN_ROLE)) throw forbidden();
    // Every administrator signs in with a second factor, whatever the MFA policy. Asked only once the
    // role is known (so nobody else is made to set one up for a 403); the step-up asks only for the
    // missing factor, and leads an admin without one to set up an authenticator app inside the sign-in.
    if (!levelSatisfies(session.level, "mfa")) {
      const stepped = await deps.sessions.requireIdpSession(request, reply, { level: "mfa", maxAgeSeconds: options.destructive ? ADMIN_REAUTH_SECONDS : undefined, returnTo: options.returnTo });
      if (!stepped) return undefined;
    }
    return { user, view: viewFor(request), actor: deps.operator.as(`user:${user.id}`) };
  }

  const send = (reply: FastifyReply, view: View, page: AdminPage, status = 200) => {
    setPagePolicy(reply, { imageSources: [deps.views.brand.logoUrl] });
    return reply.code(status).header("cache-control", "no-store").type("text/html").send(layout(view, page));
  };

  app.get("/admin", async (request, reply) => {
    const admin = await administrator(request, reply);
    if (!admin) return reply;
    return send(reply, admin.view, adminHomePage(admin.view, { email: admin.user.email }));
  });

  app.get<{ Querystring: { search?: string; cursor?: string } }>(
    "/admin/users",
    { schema: { querystring: { type: "object", properties: { search: { type: "string", maxLength: 320 }, cursor: { type: "string", maxLength: 200, pattern: "^[A-Za-z0-9_-]*$" } } } } },
    async (request, reply) => {
      const admin = await administrator(request, reply);
      if (!admin) return reply;
      const search = request.query.search?.trim() ?? "";
      const page = await deps.users.page({ search: search || undefined, after: decodeUserCursor(request.query.cursor), limit: 50 });
      const nextHref = page.next ? `/admin/users?${new URLSearchParams({ ...(search ? { search } : {}), cursor: encodeUserCursor(page.next) })}` : undefined;
      return send(reply, admin.view, usersPage(admin.view, { search, users: page.users, nextHref }));
    },
  );

  const userParams = { type: "object", required: ["id"], properties: { id: { type: "string", minLength: 1, maxLength: 100 } } } as const;
  const showUser = async (request: FastifyRequest, reply: FastifyReply, admin: { view: View }, id: string, extra: { notice?: string; error?: { field?: string; message: string } } = {}) => {
    const user = await deps.users.findById(id);
    if (!user) throw new NotFoundError(`no user with id ${id}`);
    const [sessions, events, secondFactors, linked, providers] = await Promise.all([
      deps.payloads.listByAccountId("Session", user.id),
      deps.audit.query({ userId: user.id, limit: 20 }),
      deps.secondFactorsOf?.(user) ?? Promise.resolve({ totp: false, recoveryCodesLeft: 0, passkeys: false }),
      deps.upstreams.identitiesOf(user.id),
      deps.upstreams.listProviders(),
    ]);
    // A removed provider keeps its links (migrations/018): those are named by the provider's id.
    const identities: LinkedIdentity[] = linked.map((identity) => ({
      provider: providers.find((provider) => provider.id === identity.providerId)?.displayName ?? identity.providerId,
      issuer: identity.issuer,
      subject: identity.subject,
      linkedAt: identity.createdAt,
    }));
    return send(
      reply,
      admin.view,
      userPage(admin.view, { user, sessions: sessions.length, events: events.events, csrfToken: reply.generateCsrf(CSRF_COOKIE), secondFactors, identities, ...extra }),
      extra.error ? 400 : 200,
    );
  };

  app.get<{ Params: { id: string }; Querystring: { done?: string } }>(
    "/admin/users/:id",
    { schema: { params: userParams, querystring: { type: "object", properties: { done: { type: "string", enum: [...ACTIONS] } } } } },
    async (request, reply) => {
      const admin = await administrator(request, reply);
      if (!admin) return reply;
      const done = request.query.done;
      return showUser(request, reply, admin, request.params.id, { notice: done ? admin.view.t("admin.notice.done", { action: done }) : undefined });
    },
  );

  for (const action of ACTIONS) {
    app.post<{ Params: { id: string }; Body: { roles?: string } }>(
      `/admin/users/:id/${action}`,
      {
        preHandler: app.csrfProtection,
        schema: {
          params: userParams,
          body: { type: "object", required: ["_csrf", ...(action === "roles" ? ["roles"] : [])], properties: { _csrf: { type: "string", maxLength: 256 }, roles: { type: "string", maxLength: 2000 } } },
        },
      },
      async (request, reply) => {
        const back = `/admin/users/${encodeURIComponent(request.params.id)}`;
        const admin = await administrator(request, reply, { destructive: true, returnTo: back });
        if (!admin) return reply;
        const target = { id: request.params.id };
        try {
          await perform(admin.actor, action as Action, target, request.body.roles);
        } catch (error) {
          if (!(error instanceof InvalidInputError)) throw error;
          return showUser(request, reply, admin, request.params.id, { error: { field: "roles", message: admin.view.t("admin.error.roles") } });
        }
        return reply.redirect(`${back}?done=${action}`, 303);
      },
    );
  }

  async function perform(operator: Operator, action: Action, target: { id: string }, roles: string | undefined): Promise<void> {
    if (action === "disable" || action === "enable") await operator.setDisabled(target, action === "disable");
    else if (action === "revoke-sessions") await operator.revokeSessions(target);
    else if (action === "reset-factors") await operator.resetFactors(target);
    else if (action === "roles") await operator.setRoles(target, { set: (roles ?? "").split(",") });
    else {
      const user = await deps.users.findById(target.id);
      if (!user) throw new NotFoundError(`no user with id ${target.id}`);
      await operator.unlock(user.email);
    }
  }

  app.get("/admin/clients", async (request, reply) => {
    const admin = await administrator(request, reply);
    if (!admin) return reply;
    return send(reply, admin.view, clientsPage(admin.view, { clients: await deps.clients.list() }));
  });

  const timeline = async () => keySchedule(await loadSigningKeys(deps.config.keysDir), deps.now(), keySchedulePolicy(deps.config)).timeline;

  app.get<{ Querystring: { done?: string } }>(
    "/admin/keys",
    { schema: { querystring: { type: "object", properties: { done: { type: "string", enum: ["rotate"] } } } } },
    async (request, reply) => {
      const admin = await administrator(request, reply);
      if (!admin) return reply;
      const notice = request.query.done ? admin.view.t("admin.notice.done", { action: admin.view.t("admin.keys.rotate") }) : undefined;
      return send(reply, admin.view, keysPage(admin.view, { timeline: await timeline(), csrfToken: reply.generateCsrf(CSRF_COOKIE), notice }));
    },
  );

  app.post(
    "/admin/keys/rotate",
    { preHandler: app.csrfProtection, schema: { body: { type: "object", required: ["_csrf"], properties: { _csrf: { type: "string", maxLength: 256 } } } } },
    async (request, reply) => {
      const admin = await administrator(request, reply, { destructive: true, returnTo: "/admin/keys" });
      if (!admin) return reply;
      await admin.actor.rotateKey({});
      // This instance publishes the new key now; the others within KEYS_RELOAD_INTERVAL.
      await deps.keyRing.refresh();
      return reply.redirect("/admin/keys?done=rotate", 303);
    },
  );

  app.get<{ Querystring: { event?: string; actor?: string; user_id?: string; cursor?: string } }>(
    "/admin/audit",
    {
      schema: {
        querystring: {
          type: "object",
          properties: {
            event: { type: "string", maxLength: 64 },
            actor: { type: "string", maxLength: 200 },
            user_id: { type: "string", maxLength: 100 },
            cursor: { type: "string", pattern: "^[0-9]{1,19}$" },
          },
        },
      },
    },
    async (request, reply) => {
      const admin = await administrator(request, reply);
      if (!admin) return reply;
      const filter = { event: request.query.event?.trim() ?? "", actor: request.query.actor?.trim() ?? "", userId: request.query.user_id?.trim() ?? "" };
      const page = await deps.audit.query({
        event: filter.event || undefined,
        actor: filter.actor || undefined,
        userId: filter.userId || undefined,
        before: request.query.cursor,
        limit: 50,
      });
      const query = Object.fromEntries(Object.entries({ event: filter.event, actor: filter.actor, user_id: filter.userId }).filter(([, value]) => value));
      const nextHref = page.next ? `/admin/audit?${new URLSearchParams({ ...query, cursor: page.next })}` : undefined;
      return send(reply, admin.view, auditPage(admin.view, { filter, events: page.events, nextHref }));
    },
  );
}
