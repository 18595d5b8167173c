// The account page's routes: GET /account draws the sections (account/sections.ts) for the person
// signed in to the IdP's own pages (http/idp-session.ts), and each section's routes are registered
// in their own scope with the helpers every /account page uses.
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { IdpSessions } from "../http/idp-session.ts";
import { IdpError } from "../errors.ts";
import { setPagePolicy } from "../http/security-headers.ts";
import { messagePattern, type MessageId } from "../pages/i18n.ts";
import { accountPage } from "../pages/account.ts";
import { layout, type View, type Views } from "../pages/layout.ts";
import type { UserStore } from "../store/users.ts";
import type { AccountRouteContext, AccountSection, SignedInAccount } from "./sections.ts";

export type AccountDeps = {
  sessions: Pick<IdpSessions, "requireIdpSession" | "endPageSession">;
  users: Pick<UserStore, "findById">;
  views: Views;
  sections: AccountSection[];
};

const CSRF_COOKIE = { path: "/account" };

/** A notice named in the query (`?notice=passwordChanged`): only one the catalogue has under account.notice. */
function noticeText(view: View, notice: unknown): string | undefined {
  if (typeof notice !== "string" || !/^[A-Za-z]{1,40}$/.test(notice)) return undefined;
  const id = `account.notice.${notice}` as MessageId;
  return messagePattern(view.locale, id) === id ? undefined : view.t(id);
}

export async function accountRoutes(app: FastifyInstance, deps: AccountDeps): Promise<void> {
  const { sessions, users, views } = deps;
  const sections = [...deps.sections].sort((a, b) => a.order - b.order);

  const viewFor = (request: FastifyRequest) => views.forRequest({ acceptLanguage: request.headers["accept-language"] });

  const context: AccountRouteContext = {
    requireIdpSession: sessions.requireIdpSession,
    async signedIn(request, reply, options) {
      const session = await sessions.requireIdpSession(request, reply, options);
      if (!session) return undefined;
      const user = await users.findById(session.accountId);
      if (!user) {
        // Deleted since signing in (deleting revokes the sessions too): start again.
        sessions.endPageSession(reply, "/account");
        await reply.redirect("/account", 303);
        return undefined;
      }
      if (user.disabled) {
        // Disabled since signing in: the provider refuses their tokens, and this page refuses them too.
        sessions.endPageSession(reply, "/account");
        throw new IdpError({ status: 403, code: "access_denied", title: "idpSession.failed.title", message: { id: "login.error.disabled" }, detail: "account disabled" });
      }
      // The CSRF secret's cookie lives under /account, where these forms post.
      return { session, user, view: viewFor(request), csrfToken: reply.generateCsrf(CSRF_COOKIE) } satisfies SignedInAccount;
    },
    sendPage(reply, view, page) {
      setPagePolicy(reply, { imageSources: [views.brand.logoUrl] });
      return reply.code(page.status ?? 200).type("text/html").send(layout(view, { title: page.title, body: page.body }));
    },
    backToAccount(reply, options = {}) {
      const query = options.notice ? `?notice=${encodeURIComponent(options.notice)}` : "";
      return reply.redirect(`/account${query}${options.section ? `#${options.section}` : ""}`, 303);
    },
    csrfProtection: app.csrfProtection,
  };

  app.get<{ Querystring: { notice?: string } }>(
    "/account",
    { schema: { querystring: { type: "object", properties: { notice: { type: "string", maxLength: 100 } } } } },
    async (request, reply) => {
      const account = await context.signedIn(request, reply);
      if (!account) return reply;
      const { view, session, user, csrfToken } = account;
      const rendered = await Promise.all(sections.map((section) => section.render({ request, view, session, user, csrfToken })));
      setPagePolicy(reply, { imageSources: [views.brand.logoUrl] });
      return reply.type("text/html").send(accountPage(view, { email: user.email, notice: noticeText(view, request.query.notice), sections: rendered }));
    },
  );

  for (const section of sections) {
    if (section.routes) await app.register(async (scope) => section.routes!(scope, context));
  }
}
