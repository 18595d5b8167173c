// The invitation pages and their post: /invite/<token> (the page a link opens: a GET shows the form
// and uses nothing, so a mail scanner fetching the link creates nothing; only the form's POST does).
// Handlers stay short: the work is in accounts/invitations.ts.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Acceptance, Invitations } from "../accounts/invitations.ts";
import { RESET_TOKEN_PATTERN } from "../accounts/password-reset.ts";
import { IdpError } from "../errors.ts";
import { formatMessage } from "../pages/i18n.ts";
import type { Views } from "../pages/layout.ts";
import { accountReadyPage, createAccountPage } from "../pages/invitation.ts";
import { PASSWORD_VIOLATION_MESSAGES } from "../pages/password-reset.ts";
import { INVITATION_LINK_TTL_SECONDS } from "../mail/templates.ts";
import { CSRF_FIELD } from "./schemas.ts";

export type InvitationRouteDeps = {
  invitations: Invitations;
  views: Views;
  passwordLength: { min: number; max: number };
};

// The same shape as a reset link's token: 32 random bytes, base64url.
const tokenParams = { type: "object", required: ["token"], properties: { token: { type: "string", pattern: RESET_TOKEN_PATTERN } } } as const;
// Long enough for any real password (the policy then says what is wrong), short enough to stay cheap.
const acceptBody = {
  type: "object",
  required: ["password", "repeat", "_csrf"],
  properties: {
    password: { type: "string", maxLength: 1024 },
    repeat: { type: "string", maxLength: 1024 },
    _csrf: CSRF_FIELD,
    ui_locales: { type: "string", maxLength: 100 },
  },
} as const;

type TokenRoute = { Params: { token: string } };
type AcceptBody = TokenRoute & { Body: { password: string; repeat: string; _csrf: string; ui_locales?: string } };

/** The CSRF cookie of these pages lives under /invite (the reset pages' under /reset). */
const CSRF_COOKIE = { path: "/invite" };

/** The one answer for a link that cannot be used: unknown, used, revoked or expired alike. */
function invalidLink(detail: string): IdpError {
  return new IdpError({
    status: 400,
    code: "invalid_link",
    title: "invitation.invalid.title",
    message: { id: "invitation.invalid.message", values: { days: INVITATION_LINK_TTL_SECONDS / 86_400 } },
    description: "this invitation link has expired, has been used, or was revoked or replaced by a newer one",
    detail,
  });
}

/** An account with the invited address was made since the invitation was sent: nothing was created. */
function accountExists(): IdpError {
  return new IdpError({
    status: 409,
    code: "account_exists",
    title: "invitation.exists.title",
    message: { id: "invitation.exists.message" },
    description: "an account with this email address exists already",
    detail: "POST of an invitation whose address has an account",
  });
}

export async function invitationRoutes(app: FastifyInstance, deps: InvitationRouteDeps): Promise<void> {
  const { invitations, views } = deps;
  const viewFor = (request: FastifyRequest, locale: string) => views.forRequest({ uiLocales: locale, acceptLanguage: request.headers["accept-language"] });
  const html = (reply: FastifyReply, status: number, page: string) => reply.code(status).type("text/html").send(page);

  app.get<TokenRoute>("/invite/:token", { schema: { params: tokenParams } }, async (request, reply) => {
    const link = await invitations.inspect(request.params.token);
    if (!link) throw invalidLink("GET of an invitation link that cannot be used");
    const page = createAccountPage(viewFor(request, link.locale), {
      token: request.params.token,
      email: link.email,
      csrfToken: reply.generateCsrf(CSRF_COOKIE),
      minLength: deps.passwordLength.min,
    });
    return html(reply, 200, page);
  });

  app.post<AcceptBody>("/invite/:token", { schema: { params: tokenParams, body: acceptBody }, preHandler: app.csrfProtection }, async (request, reply) => {
    const { token } = request.params;
    const result: Acceptance = await invitations.accept({
      token,
      password: request.body.password,
      repeat: request.body.repeat,
      ip: request.ip,
      userAgent: request.headers["user-agent"],
    });
    if (result.ok) return html(reply, 200, accountReadyPage(viewFor(request, result.locale), { email: result.user.email }));
    switch (result.reason) {
      case "invalid_link":
        throw invalidLink("POST of an invitation link that cannot be used");
      case "exists":
        throw accountExists();
      case "mismatch":
      case "policy": {
        const view = viewFor(request, result.locale);
        const id = PASSWORD_VIOLATION_MESSAGES[result.reason === "mismatch" ? "mismatch" : result.violation];
        const error = { field: result.reason === "mismatch" ? "repeat" : "password", message: formatMessage(view.t, { id, values: deps.passwordLength }) };
        const page = createAccountPage(view, { token, email: result.email, csrfToken: reply.generateCsrf(CSRF_COOKIE), minLength: deps.passwordLength.min, error });
        return html(reply, 400, page);
      }
    }
  });
}
