// The account page's password section: a link to the change form, and the form's routes. Changing
// it needs a sign-in within the last five minutes (the guard asks again with max_age otherwise).
import type { ChangePassword } from "../accounts/password-change.ts";
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from "../accounts/password-policy.ts";
import { formBody } from "../interactions/schemas.ts";
import { html } from "../pages/html.ts";
import { formatMessage } from "../pages/i18n.ts";
import { accountSection, changePasswordPage } from "../pages/account.ts";
import type { FieldError } from "../pages/layout.ts";
import { PASSWORD_VIOLATION_MESSAGES } from "../pages/password-reset.ts";
import { RECENT_SIGN_IN_SECONDS, type AccountSection } from "./sections.ts";

const PATH = "/account/password";
const PASSWORD = { type: "string", maxLength: 1024 } as const;
type ChangeBody = { Body: { current: string; password: string; repeat: string; _csrf: string } };

export function passwordSection(deps: { changePassword: ChangePassword }): AccountSection {
  const fresh = { maxAgeSeconds: RECENT_SIGN_IN_SECONDS, returnTo: PATH };
  return {
    id: "password",
    order: 10,
    render: ({ view }) =>
      accountSection("password", view.t("account.password.heading"), html`<p>${view.t("account.password.intro")}</p>
<p><a href="${PATH}">${view.t("account.password.change")}</a></p>`),

    routes(scope, context) {
      scope.get(PATH, async (request, reply) => {
        const account = await context.signedIn(request, reply, fresh);
        if (!account) return reply;
        const { view, csrfToken } = account;
        return context.sendPage(reply, view, changePasswordPage(view, { csrfToken, minLength: PASSWORD_MIN_LENGTH }));
      });

      scope.post<ChangeBody>(
        PATH,
        { schema: { body: formBody(["current", "password", "repeat"], { current: PASSWORD, password: PASSWORD, repeat: PASSWORD }) }, preHandler: context.csrfProtection },
        async (request, reply) => {
          const account = await context.signedIn(request, reply, fresh);
          if (!account) return reply;
          const { view, session, user, csrfToken } = account;
          const result = await deps.changePassword({
            userId: user.id,
            sessionUid: session.sessionUid,
            ...request.body,
            locale: view.locale,
            ip: request.ip,
            userAgent: request.headers["user-agent"],
          });
          if (result.ok) return context.backToAccount(reply, { notice: "passwordChanged" });
          let error: FieldError;
          let status = 400;
          switch (result.reason) {
            case "wrong_password":
              error = { field: "current", message: view.t("account.password.error.wrong") };
              status = 403;
              break;
            case "locked":
              error = { field: "current", message: formatMessage(view.t, { id: "login.error.locked", values: { wait: result.retryAfterSeconds } }) };
              status = 429;
              reply.header("Retry-After", String(result.retryAfterSeconds));
              break;
            case "policy":
              error = {
                field: "password",
                message: view.t(PASSWORD_VIOLATION_MESSAGES[result.violation], { min: PASSWORD_MIN_LENGTH, max: PASSWORD_MAX_LENGTH }),
              };
              break;
            case "mismatch":
              error = { field: "repeat", message: view.t(PASSWORD_VIOLATION_MESSAGES.mismatch) };
              break;
            case "unknown_user":
              return reply.redirect("/account", 303);
          }
          return context.sendPage(reply, view, { ...changePasswordPage(view, { csrfToken, minLength: PASSWORD_MIN_LENGTH, error }), status });
        },
      );
    },
  };
}
