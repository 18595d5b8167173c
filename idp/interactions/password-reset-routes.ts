// The password reset pages and their posts: /reset (ask for a link; started from "Forgot
// password?" it remembers the sign-in to return to) and /reset/<token> (the page a link opens: a
// GET shows a form and uses nothing, so a mail scanner fetching the link consumes nothing; only the
// form's POST does). Handlers stay short: the work is in accounts/password-reset.ts.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { PasswordReset, ResetCompletion } from "../accounts/password-reset.ts";
import { RESET_TOKEN_PATTERN } from "../accounts/password-reset.ts";
import { IdpError, idpErrors } from "../errors.ts";
import { formatMessage } from "../pages/i18n.ts";
import type { View, Views } from "../pages/layout.ts";
import { chooseNewPasswordPage, passwordChangedPage, PASSWORD_VIOLATION_MESSAGES, resetRequestedPage, resetRequestPage } from "../pages/password-reset.ts";
import { RESET_LINK_TTL_SECONDS } from "../mail/templates.ts";
import { CSRF_FIELD, EMAIL_FIELD, LOOKS_LIKE_EMAIL, UID_PATTERN } from "./schemas.ts";

export type PasswordResetRouteDeps = {
  passwordReset: PasswordReset;
  views: Views;
  passwordLength: { min: number; max: number };
};

const LOCALES = { type: "string", maxLength: 100 } as const;

const requestQuery = {
  type: "object",
  properties: { interaction: { type: "string", pattern: UID_PATTERN }, ui_locales: LOCALES },
} as const;
const requestBody = {
  type: "object",
  required: ["email", "_csrf"],
  properties: { email: EMAIL_FIELD, _csrf: CSRF_FIELD, interaction: { type: "string", pattern: UID_PATTERN }, ui_locales: LOCALES },
} as const;
const tokenParams = { type: "object", required: ["token"], properties: { token: { type: "string", pattern: RESET_TOKEN_PATTERN } } } as const;
// Long enough for any real password (the policy then says what is wrong), short enough to stay cheap.
const completeBody = {
  type: "object",
  required: ["password", "repeat", "_csrf"],
  properties: { password: { type: "string", maxLength: 1024 }, repeat: { type: "string", maxLength: 1024 }, _csrf: CSRF_FIELD },
} as const;

type RequestQuery = { Querystring: { interaction?: string; ui_locales?: string } };
type RequestBody = { Body: { email: string; _csrf: string; interaction?: string; ui_locales?: string } };
type TokenRoute = { Params: { token: string } };
type CompleteBody = TokenRoute & { Body: { password: string; repeat: string; _csrf: string } };

/** The CSRF cookie of these pages lives under /reset (the sign-in pages' under /interaction). */
const CSRF_COOKIE = { path: "/reset" };


/** The one answer for a link that cannot be used: unknown, used, superseded or expired alike. */
function invalidLink(detail: string): IdpError {
  return new IdpError({
    status: 400,
    code: "invalid_link",
    title: "error.resetLink.title",
    message: { id: "error.resetLink.message", values: { minutes: RESET_LINK_TTL_SECONDS / 60 } },
    description: "this password reset link has expired, has been used, or was replaced by a newer one",
    detail,
  });
}

/** Where "Forgot password?" on a sign-in page leads: the request page, in the page's language, remembering the sign-in. */
export function forgotPasswordHref(uid: string, view: View): string {
  return `/reset?${new URLSearchParams({ interaction: uid, ui_locales: view.locale })}`;
}

export async function passwordResetRoutes(app: FastifyInstance, deps: PasswordResetRouteDeps): Promise<void> {
  const { passwordReset, views } = deps;
  const viewFor = (request: FastifyRequest, uiLocales?: unknown) => views.forRequest({ uiLocales, acceptLanguage: request.headers["accept-language"] });
  const html = (reply: FastifyReply, status: number, page: string) => reply.code(status).type("text/html").send(page);
  const context = (request: FastifyRequest) => ({ ip: request.ip, userAgent: request.headers["user-agent"] });

  app.get<RequestQuery>("/reset", { schema: { querystring: requestQuery } }, async (request, reply) => {
    const view = viewFor(request, request.query.ui_locales);
    const csrfToken = reply.generateCsrf(CSRF_COOKIE);
    return html(reply, 200, resetRequestPage(view, { csrfToken, interactionUid: request.query.interaction }));
  });

  app.post<RequestBody>("/reset", { schema: { body: requestBody }, preHandler: app.csrfProtection }, async (request, reply) => {
    const { email, interaction } = request.body;
    const view = viewFor(request, request.body.ui_locales);
    const again = (status: number, message: Parameters<typeof formatMessage>[1]) =>
      html(reply, status, resetRequestPage(view, { csrfToken: reply.generateCsrf(CSRF_COOKIE), interactionUid: interaction, email, error: { field: "email", message: formatMessage(view.t, message) } }));
    if (!LOOKS_LIKE_EMAIL.test(email.trim())) return again(400, { id: "reset.request.error.email" });
    const result = await passwordReset.request({ email, locale: view.locale, interactionUid: interaction, ...context(request) });
    if (!result.ok) {
      reply.header("Retry-After", String(result.retryAfterSeconds));
      return again(429, { id: "reset.request.error.rateLimited", values: { wait: result.retryAfterSeconds } });
    }
    return html(reply, 200, resetRequestedPage(view, { interactionUid: interaction, linkMinutes: RESET_LINK_TTL_SECONDS / 60 }));
  });

  app.get<TokenRoute>("/reset/:token", { schema: { params: tokenParams } }, async (request, reply) => {
    const link = await passwordReset.inspect(request.params.token);
    if (!link) throw invalidLink("GET of a reset link that cannot be used");
    const view = viewFor(request, link.locale);
    const page = chooseNewPasswordPage(view, { token: request.params.token, csrfToken: reply.generateCsrf(CSRF_COOKIE), minLength: deps.passwordLength.min });
    return html(reply, 200, page);
  });

  app.post<CompleteBody>("/reset/:token", { schema: { params: tokenParams, body: completeBody }, preHandler: app.csrfProtection }, async (request, reply) => {
    const { token } = request.params;
    const result: ResetCompletion = await passwordReset.complete({ token, password: request.body.password, repeat: request.body.repeat, ...context(request) });
    if (result.ok) return html(reply, 200, passwordChangedPage(viewFor(request, result.locale), { interactionUid: result.interactionUid ?? undefined }));
    switch (result.reason) {
      case "invalid_link":
        throw invalidLink("POST of a reset link that cannot be used");
      case "rate_limited":
        throw idpErrors.tooManyRequests(result.retryAfterSeconds);
      case "mismatch":
      case "policy": {
        const view = viewFor(request, result.locale);
        const id = PASSWORD_VIOLATION_MESSAGES[result.reason === "mismatch" ? "mismatch" : result.violation];
        const error = { field: result.reason === "mismatch" ? "repeat" : "password", message: formatMessage(view.t, { id, values: deps.passwordLength }) };
        const page = chooseNewPasswordPage(view, { token, csrfToken: reply.generateCsrf(CSRF_COOKIE), minLength: deps.passwordLength.min, error });
        return html(reply, 400, page);
      }
    }
  });
}
