// Sign-up from "Create an account" on the sign-in page (SIGN_UP=open): the email, its code (or its
// link, posted here from /email-link/<token> in the same browser), the password; then the new
// person is signed in to the application that sent them. Handlers stay short: the work is in
// accounts/sign-up.ts, spam checks in abuse/.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { CODE_PATTERN, SECRET_PATTERN } from "../accounts/code-secrets.ts";
import { CODE_TTL_SECONDS } from "../accounts/code-sign-in.ts";
import type { SignUp } from "../accounts/sign-up.ts";
import { PASSWORD_VIOLATION_MESSAGES } from "../pages/password-reset.ts";
import { idpErrors } from "../errors.ts";
import { signUpRefusalMessage, SIGN_UP_GUARD_BODY_PROPERTIES, type SignUpGuard } from "../abuse/sign-up-guard.ts";
import { signUpFields } from "../pages/sign-up-fields.ts";
import { formatMessage, type Message } from "../pages/i18n.ts";
import type { ClientBrand, FieldError, View } from "../pages/layout.ts";
import { signUpPage, signUpPasswordPage, signUpSentPage } from "../pages/sign-up.ts";
import { browserBinding, ensureBrowserBinding } from "./browser-binding.ts";
import { invalidEmailLink } from "./code-sign-in-routes.ts";
import { interactionHelpers, type Details, type InteractionContext } from "./interaction-helpers.ts";
import { EMAIL_FIELD, formBody, LOOKS_LIKE_EMAIL, UID_PARAMS } from "./schemas.ts";

export type SignUpRouteDeps = InteractionContext & {
  signUp: SignUp;
  /** The form's spam protection (abuse/sign-up-guard.ts). */
  guard: SignUpGuard;
  newBrowserSecret: () => string;
  confirmationCode: (browser: string) => string;
  passwordLength: { min: number; max: number };
};

const MINUTES = CODE_TTL_SECONDS / 60;

const PASSWORD = { type: "string", maxLength: 1024 } as const;

type Uid = { Params: { uid: string } };
type EmailRoute = Uid & { Body: { email: string } & Record<string, unknown> };
type CodeRoute = Uid & { Body: { email: string; code: string } };
type TokenRoute = Uid & { Body: { token: string } };
type PasswordRoute = Uid & { Body: { email: string; password: string; repeat: string } };
type Page = { details: Details; view: View; client: ClientBrand };

export async function signUpRoutes(app: FastifyInstance, deps: SignUpRouteDeps): Promise<void> {
  const { signUp, guard } = deps;
  const spamFields = (view: View) => signUpFields(view, guard.formFields());
  // The pages with the sign-up form may run the proof-of-work widget's one script.
  const widget = { proofOfWorkWidget: guard.formFields().proofOfWork !== undefined };
  const { loadDetails, pageFor, finishSignIn } = interactionHelpers(deps);
  const context = (request: FastifyRequest) => ({ ip: request.ip, userAgent: request.headers["user-agent"] });
  const html = (reply: FastifyReply, status: number, page: string) => reply.code(status).type("text/html").send(page);
  const error = (view: View, field: string, message: Message): FieldError => ({ field, message: formatMessage(view.t, message) });

  /** The interaction, on a sign-in (sign-up is one way to answer its login prompt). */
  async function signUpStep(request: FastifyRequest<Uid>, reply: FastifyReply): Promise<Page> {
    const details = await loadDetails(request, reply);
    if (details.prompt.name !== "login") throw idpErrors.notFound();
    return { details, ...(await pageFor(request, reply, details, widget)) };
  }

  const emailPage = (reply: FastifyReply, status: number, page: Page, email?: string, fieldError?: FieldError) =>
    html(reply, status, signUpPage(page.view, { uid: page.details.uid, csrfToken: reply.generateCsrf(), client: page.client, email, error: fieldError, spamFields: spamFields(page.view) }));
  const sentPage = (reply: FastifyReply, status: number, page: Page, email: string, browser: string, fieldError?: FieldError) =>
    html(
      reply,
      status,
      signUpSentPage(page.view, {
        uid: page.details.uid,
        csrfToken: reply.generateCsrf(),
        client: page.client,
        email,
        minutes: MINUTES,
        confirmationCode: deps.confirmationCode(browser),
        spamFields: spamFields(page.view),
        error: fieldError,
      }),
    );
  const passwordPage = (reply: FastifyReply, status: number, page: Page, email: string, fieldError?: FieldError) =>
    html(reply, status, signUpPasswordPage(page.view, { uid: page.details.uid, csrfToken: reply.generateCsrf(), client: page.client, email, minLength: deps.passwordLength.min, error: fieldError }));

  app.get<Uid>("/interaction/:uid/sign-up", { schema: { params: UID_PARAMS } }, async (request, reply) => emailPage(reply, 200, await signUpStep(request, reply)));

  app.post<EmailRoute>(
    "/interaction/:uid/sign-up",
    { schema: { params: UID_PARAMS, body: formBody(["email"], { email: EMAIL_FIELD, ...SIGN_UP_GUARD_BODY_PROPERTIES }) }, preHandler: app.csrfProtection },
    async (request, reply) => {
      const page = await signUpStep(request, reply);
      const email = request.body.email.trim();
      if (!LOOKS_LIKE_EMAIL.test(email)) return emailPage(reply, 400, page, email, error(page.view, "email", { id: "code.error.email" }));
      const browser = ensureBrowserBinding(request, reply, deps.newBrowserSecret);
      const checked = await guard.check(request.body, email);
      if (!checked.ok) {
        const message = signUpRefusalMessage(checked.reason, email);
        // A bot that filled the honeypot gets the page a person gets, and nothing is sent.
        if (!message) return sentPage(reply, 200, page, email, browser);
        return emailPage(reply, 400, page, email, error(page.view, "email", message));
      }
      const result = await signUp.request({ email, browser, locale: page.view.locale, interactionUid: page.details.uid, limitWeight: checked.limitWeight, ...context(request) });
      if (!result.ok && result.reason === "domain") return emailPage(reply, 400, page, email, error(page.view, "email", { id: "signUp.error.domain" }));
      if (!result.ok) {
        reply.header("Retry-After", String(result.retryAfterSeconds));
        return emailPage(reply, 429, page, email, error(page.view, "email", { id: "signUp.error.rateLimited", values: { wait: result.retryAfterSeconds } }));
      }
      return sentPage(reply, 200, page, email, browser);
    },
  );

  app.post<CodeRoute>(
    "/interaction/:uid/sign-up/code",
    { schema: { params: UID_PARAMS, body: formBody(["email", "code"], { email: EMAIL_FIELD, code: { type: "string", maxLength: 32 } }) }, preHandler: app.csrfProtection },
    async (request, reply) => {
      const page = await signUpStep(request, reply);
      const { email } = request.body;
      const browser = browserBinding(request);
      const code = request.body.code.replace(/\s/g, "");
      const again = (status: number, message: Message) => (browser ? sentPage(reply, status, page, email, browser, error(page.view, "code", message)) : emailPage(reply, status, page, email, error(page.view, "email", { id: "signUp.error.expired" })));
      if (!new RegExp(CODE_PATTERN).test(code)) return again(400, { id: "code.error.format" });
      const result = await signUp.confirm({ email, code, browser, interactionUid: page.details.uid, ...context(request) });
      if (result.ok) return passwordPage(reply, 200, page, email);
      if (result.reason === "invalid") return again(400, { id: "code.error.invalid" });
      reply.header("Retry-After", String(result.retryAfterSeconds));
      return again(429, { id: result.reason === "locked" ? "code.error.locked" : "code.error.rateLimited", values: { wait: result.retryAfterSeconds } });
    },
  );

  app.post<CodeRoute>(
    "/interaction/:uid/sign-up/continue",
    { schema: { params: UID_PARAMS, body: formBody(["email"], { email: EMAIL_FIELD }) }, preHandler: app.csrfProtection },
    async (request, reply) => {
      const page = await signUpStep(request, reply);
      const { email } = request.body;
      const browser = browserBinding(request);
      if (await signUp.confirmed(email, browser, page.details.uid)) return passwordPage(reply, 200, page, email);
      if (!browser) return emailPage(reply, 400, page, email, error(page.view, "email", { id: "signUp.error.expired" }));
      return sentPage(reply, 400, page, email, browser, error(page.view, "continue", { id: "code.error.notConfirmed" }));
    },
  );

  app.post<TokenRoute>(
    "/interaction/:uid/sign-up/link",
    { schema: { params: UID_PARAMS, body: formBody(["token"], { token: { type: "string", pattern: SECRET_PATTERN } }) }, preHandler: app.csrfProtection },
    async (request, reply) => {
      const page = await signUpStep(request, reply);
      const result = await signUp.confirmWithLink({ token: request.body.token, browser: browserBinding(request), interactionUid: page.details.uid });
      if (!result.ok) throw invalidEmailLink("POST of a sign-up link that cannot be used");
      return passwordPage(reply, 200, page, result.email);
    },
  );

  app.post<PasswordRoute>(
    "/interaction/:uid/sign-up/password",
    { schema: { params: UID_PARAMS, body: formBody(["email", "password", "repeat"], { email: EMAIL_FIELD, password: PASSWORD, repeat: PASSWORD }) }, preHandler: app.csrfProtection },
    async (request, reply) => {
      const page = await signUpStep(request, reply);
      const { email, password, repeat } = request.body;
      const result = await signUp.complete({ email, password, repeat, browser: browserBinding(request), interactionUid: page.details.uid, ...context(request) });
      // The address was proved by mail and the password chosen in this sign-in: both are factors of it.
      if (result.ok) return finishSignIn(request, reply, page.details, result.user.id, ["email", "pwd"]);
      switch (result.reason) {
        case "policy":
          return passwordPage(reply, 400, page, email, error(page.view, "password", { id: PASSWORD_VIOLATION_MESSAGES[result.violation], values: deps.passwordLength }));
        case "mismatch":
          return passwordPage(reply, 400, page, email, error(page.view, "repeat", { id: PASSWORD_VIOLATION_MESSAGES.mismatch }));
        case "exists":
          return emailPage(reply, 409, page, email, error(page.view, "email", { id: "signUp.error.exists" }));
        case "not_confirmed":
          return emailPage(reply, 400, page, email, error(page.view, "email", { id: "signUp.error.expired" }));
      }
    },
  );
}
