// The account page's sign-ins: the browsers signed in to the IdP (this one marked) and the
// applications signed in to, each with a way to sign it out, and "sign out everywhere" (every
// session, grant and refresh token revoked, this browser's too).
import type { FastifyReply } from "fastify";
import type { SignOuts } from "../accounts/sign-outs.ts";
import { UID_PATTERN } from "../interactions/schemas.ts";
import { formBody } from "../interactions/schemas.ts";
import { html, type Html } from "../pages/html.ts";
import { accountSection, formatTime, signedOutPage } from "../pages/account.ts";
import { buttonForm, csrfField, type View } from "../pages/layout.ts";
import type { ClientStore } from "../store/clients.ts";
import type { AccountRouteContext, AccountSection } from "./sections.ts";

type IdParams = { Params: { id: string } };
const ID_PARAMS = { type: "object", required: ["id"], properties: { id: { type: "string", pattern: UID_PATTERN } } } as const;

export function sessionsSection(deps: { signOuts: SignOuts; clients: Pick<ClientStore, "find">; endPageSession: (reply: FastifyReply) => void }): AccountSection {
  const { signOuts } = deps;
  const appName = async (clientId: string) => {
    const client = await deps.clients.find(clientId);
    return client?.name ?? clientId;
  };

  async function sessionList(view: View, accountId: string, currentUid: string, csrfToken: string): Promise<Html> {
    const { t } = view;
    const sessions = await signOuts.sessions(accountId);
    const items = await Promise.all(
      sessions.map(async (session) => {
        const apps = await Promise.all(session.clientIds.map(appName));
        const current = session.uid === currentUid;
        // Every row's button says "Sign out": the row's words describe which browser it is.
        const described = `session-${session.uid}`;
        return html`<li${current ? html` data-current="true"` : ""}><span id="${described}">${current ? html`<strong>${t("account.sessions.current")}</strong><br>` : ""}${t("account.sessions.item", { time: formatTime(view, session.signedInAt) })}${
          apps.length ? html`<br><span class="muted">${t("account.sessions.apps", { apps: apps.join(", ") })}</span>` : ""
        }</span>
<form method="post" action="/account/sessions/${session.uid}/sign-out">
${csrfField(csrfToken)}
<button type="submit" class="button-secondary" aria-describedby="${described}">${t("account.sessions.signOut")}</button>
</form></li>`;
      }),
    );
    return html`<ul class="account-list">${items}</ul>`;
  }

  async function appList(view: View, accountId: string, csrfToken: string): Promise<Html> {
    const { t } = view;
    const apps = await signOuts.apps(accountId);
    if (apps.length === 0) return html`<p class="muted">${t("account.apps.none")}</p>`;
    const items = await Promise.all(
      apps.map(async (app) => {
        const name = await appName(app.clientId);
        return html`<li><span><strong>${name}</strong><br><span class="muted">${t("account.apps.item", { time: formatTime(view, app.grantedAt) })}</span></span>
${buttonForm(`/account/apps/${app.grantId}/sign-out`, csrfToken, t("account.apps.signOut", { app: name }), "secondary")}</li>`;
      }),
    );
    return html`<ul class="account-list">${items}</ul>`;
  }

  const context = (request: { ip: string; headers: { "user-agent"?: string } }) => ({ ip: request.ip, userAgent: request.headers["user-agent"] });

  function signedOutHere(reply: FastifyReply, routes: AccountRouteContext, view: View, message: string) {
    deps.endPageSession(reply);
    return routes.sendPage(reply, view, signedOutPage(view, message));
  }

  return {
    id: "sessions",
    order: 80,
    async render({ view, session, csrfToken }) {
      const { t } = view;
      return html`${accountSection("sessions", t("account.sessions.heading"), html`${await sessionList(view, session.accountId, session.sessionUid, csrfToken)}
<p class="muted">${t("account.sessions.everywhereHint")}</p>
${buttonForm("/account/sign-out-everywhere", csrfToken, t("account.sessions.signOutEverywhere"), "secondary")}`)}
${accountSection("apps", t("account.apps.heading"), await appList(view, session.accountId, csrfToken))}`;
    },

    routes(scope, routes) {
      const post = { schema: { params: ID_PARAMS, body: formBody([], {}) }, preHandler: routes.csrfProtection };

      scope.post<IdParams>("/account/sessions/:id/sign-out", post, async (request, reply) => {
        const account = await routes.signedIn(request, reply, { returnTo: "/account" });
        if (!account) return reply;
        const { session, view } = account;
        const done = await signOuts.signOutSession(session.accountId, request.params.id, context(request));
        if (!done) return routes.backToAccount(reply, { section: "sessions" });
        if (request.params.id === session.sessionUid) return signedOutHere(reply, routes, view, view.t("account.signedOut.thisBrowser"));
        return routes.backToAccount(reply, { notice: "sessionSignedOut", section: "sessions" });
      });

      scope.post("/account/sign-out-everywhere", { schema: { body: formBody([], {}) }, preHandler: routes.csrfProtection }, async (request, reply) => {
        const account = await routes.signedIn(request, reply, { returnTo: "/account" });
        if (!account) return reply;
        await signOuts.signOutEverywhere(account.session.accountId, context(request));
        return signedOutHere(reply, routes, account.view, account.view.t("account.signedOut.everywhere"));
      });

      scope.post<IdParams>("/account/apps/:id/sign-out", post, async (request, reply) => {
        const account = await routes.signedIn(request, reply, { returnTo: "/account" });
        if (!account) return reply;
        const app = (await signOuts.apps(account.session.accountId)).find((each) => each.grantId === request.params.id);
        if (app) await signOuts.revokeApp(account.session.accountId, app.grantId, app.clientId, context(request));
        return routes.backToAccount(reply, { notice: app ? "appSignedOut" : undefined, section: "apps" });
      });
    },
  };
}
