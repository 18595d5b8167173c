// The email verification pages and their post: /verify-email/<token> (the page a link opens: a GET
// shows one button and uses nothing, so a mail scanner fetching the link confirms nothing; only the
// button's POST does). Handlers stay short: the work is in accounts/email-verification.ts.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { EmailVerification } from "../accounts/email-verification.ts";
import { RESET_TOKEN_PATTERN } from "../accounts/password-reset.ts";
import { IdpError } from "../errors.ts";
import type { Views } from "../pages/layout.ts";
import { confirmEmailPage, emailConfirmedPage } from "../pages/email-verification.ts";
import { VERIFICATION_LINK_TTL_SECONDS } from "../mail/templates.ts";
import { CSRF_FIELD } from "./schemas.ts";

export type EmailVerificationRouteDeps = {
  emailVerification: EmailVerification;
  views: Views;
};

// The same shape as a reset link's token: 32 random bytes, base64url.
const tokenParams = { type: "object", required: ["token"], properties: { token: { type: "string", pattern: RESET_TOKEN_PATTERN } } } as const;
const confirmBody = { type: "object", required: ["_csrf"], properties: { _csrf: CSRF_FIELD } } as const;

type TokenRoute = { Params: { token: string } };
type ConfirmBody = TokenRoute & { Body: { _csrf: string } };

/** The CSRF cookie of these pages lives under /verify-email (the reset pages' under /reset). */
const CSRF_COOKIE = { path: "/verify-email" };

/** The one answer for a link that cannot be used: unknown, used, superseded, expired or of a disabled person alike. */
function invalidLink(detail: string): IdpError {
  return new IdpError({
    status: 400,
    code: "invalid_link",
    title: "verifyEmail.invalid.title",
    message: { id: "verifyEmail.invalid.message", values: { hours: VERIFICATION_LINK_TTL_SECONDS / 3600 } },
    description: "this email verification link has expired, has been used, or was replaced by a newer one",
    detail,
  });
}

export async function emailVerificationRoutes(app: FastifyInstance, deps: EmailVerificationRouteDeps): Promise<void> {
  const { emailVerification, views } = deps;
  const viewFor = (request: FastifyRequest, locale: string) => views.forRequest({ uiLocales: locale, acceptLanguage: request.headers["accept-language"] });
  const html = (reply: FastifyReply, page: string) => reply.code(200).type("text/html").send(page);

  app.get<TokenRoute>("/verify-email/:token", { schema: { params: tokenParams } }, async (request, reply) => {
    const link = await emailVerification.inspect(request.params.token);
    if (!link) throw invalidLink("GET of a verification link that cannot be used");
    return html(reply, confirmEmailPage(viewFor(request, link.locale), { token: request.params.token, csrfToken: reply.generateCsrf(CSRF_COOKIE) }));
  });

  app.post<ConfirmBody>("/verify-email/:token", { schema: { params: tokenParams, body: confirmBody }, preHandler: app.csrfProtection }, async (request, reply) => {
    const result = await emailVerification.confirm({ token: request.params.token, ip: request.ip, userAgent: request.headers["user-agent"] });
    if (!result.ok) throw invalidLink("POST of a verification link that cannot be used");
    return html(reply, emailConfirmedPage(viewFor(request, result.locale)));
  });
}
