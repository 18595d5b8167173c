// Sign-in by one-time code: "Email me a sign-in code" and "text me a code" on the sign-in page,
// the code page, and the pages a mailed link opens (/email-link/<token>: a GET uses nothing, so a
// mail scanner consumes nothing). Handlers stay short: the work is in accounts/code-sign-in.ts.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { CODE_PATTERN, SECRET_PATTERN } from "../accounts/code-secrets.ts";
import { CODE_TTL_SECONDS, type CodeChannel, type CodeCheckResult, type CodeSignIn } from "../accounts/code-sign-in.ts";
import { IdpError, idpErrors } from "../errors.ts";
import { formatMessage, type Message } from "../pages/i18n.ts";
import type { ClientBrand, FieldError, View } from "../pages/layout.ts";
import { codeSentPage, linkApprovedPage, linkOtherBrowserPage, linkSameBrowserPage, smsRequestPage } from "../pages/code-sign-in.ts";
import { signInPage, type SignInOffer } from "../pages/sign-in.ts";
import { browserBinding, ensureBrowserBinding } from "./browser-binding.ts";
import { interactionHelpers, type Details, type InteractionContext } from "./interaction-helpers.ts";
import { EMAIL_FIELD, formBody, LOOKS_LIKE_EMAIL, UID_PARAMS } from "./schemas.ts";

/** A typed phone number, normalised to E.164 and checked against SMS_ALLOWED_COUNTRIES. */
export type PhoneNumberCheck = (input: string) => { ok: true; e164: string } | { ok: false; reason: "invalid" | "country" };

export type CodeSignInRouteDeps = InteractionContext & {
  codeSignIn: CodeSignIn;
  offer: (uid: string, view: View) => SignInOffer;
  /** Present when SMS codes are offered. */
  phoneNumber?: PhoneNumberCheck;
};

const MINUTES = CODE_TTL_SECONDS / 60;
/** The CSRF cookie of the link pages for another browser lives under /email-link. */
const LINK_CSRF_COOKIE = { path: "/email-link" };

const tokenParams = { type: "object", required: ["token"], properties: { token: { type: "string", pattern: SECRET_PATTERN } } } as const;
const CHANNEL = { type: "string", enum: ["email", "sms"] } as const;
// As the code page posts it back: a lower-cased email or an E.164 number; no control characters
// (PostgreSQL text cannot hold NUL, and an audit row or rate-limit key with one would fail).
const IDENTIFIER = { type: "string", minLength: 1, maxLength: 320, pattern: "^[^\\u0000-\\u001f\\u007f\\s]+$" } as const;
// Any short string: a malformed code is a wrong code (counted), answered on the page, not a 400.
const TYPED_CODE = { type: "string", maxLength: 32 } as const;

type Uid = { Params: { uid: string } };
/** A sign-in page's interaction, language and application. */
type Page = { details: Details; view: View; client: ClientBrand };
type EmailCodeRoute = Uid & { Body: { email: string } };
type SmsCodeRoute = Uid & { Body: { phone: string } };
type CodeRoute = Uid & { Body: { channel: CodeChannel; identifier: string; code: string } };
type ContinueRoute = Uid & { Body: { channel: CodeChannel; identifier: string } };
type LinkPostRoute = Uid & { Body: { token: string } };
type TokenRoute = { Params: { token: string } };
type ApproveRoute = TokenRoute & { Body: { confirmation: string } };

/** The one answer for a link that cannot be used: unknown, used, superseded or expired alike. */
export function invalidEmailLink(detail: string): IdpError {
  return new IdpError({
    status: 400,
    code: "invalid_link",
    title: "error.emailLink.title",
    message: { id: "error.emailLink.message", values: { minutes: MINUTES } },
    description: "this sign-in link has expired, has been used, or was replaced by a newer code",
    detail,
  });
}

/** The status and message of a failed check. */
function failure(result: Exclude<CodeCheckResult, { ok: true }>): { status: number; message: Message; retryAfter?: number } {
  switch (result.reason) {
    case "invalid":
      return { status: 400, message: { id: "code.error.invalid" } };
    case "not_confirmed":
      return { status: 400, message: { id: "code.error.notConfirmed" } };
    case "locked":
      return { status: 429, message: { id: "code.error.locked", values: { wait: result.retryAfterSeconds } }, retryAfter: result.retryAfterSeconds };
    case "rate_limited":
      return { status: 429, message: { id: "code.error.rateLimited", values: { wait: result.retryAfterSeconds } }, retryAfter: result.retryAfterSeconds };
  }
}

export async function codeSignInRoutes(app: FastifyInstance, deps: CodeSignInRouteDeps): Promise<void> {
  const { codeSignIn, views } = deps;
  const { loadDetails, pageFor, finishSignIn, continuingPagePolicy } = interactionHelpers(deps);
  const context = (request: FastifyRequest) => ({ ip: request.ip, userAgent: request.headers["user-agent"] });
  const html = (reply: FastifyReply, status: number, page: string) => reply.code(status).type("text/html").send(page);

  /** The interaction, on a sign-in (login prompt) whose page offers this channel. */
  async function signInStep(request: FastifyRequest<Uid>, reply: FastifyReply, channel: CodeChannel): Promise<Page> {
    const details = await loadDetails(request, reply);
    const { view, client } = await pageFor(request, reply, details);
    const offer = deps.offer(details.uid, view);
    if (details.prompt.name !== "login" || !(channel === "email" ? offer.emailCode : offer.smsCode && deps.phoneNumber)) throw idpErrors.notFound();
    return { details, view, client };
  }

  /** The code page; `browser` is this browser's binding, for the confirmation code it shows. */
  function codePage(reply: FastifyReply, status: number, page: Page, channel: CodeChannel, identifier: string, browser: string | undefined, error?: FieldError) {
    return html(
      reply,
      status,
      codeSentPage(page.view, {
        uid: page.details.uid,
        csrfToken: reply.generateCsrf(),
        client: page.client,
        channel,
        identifier,
        minutes: MINUTES,
        confirmationCode: channel === "email" && browser ? codeSignIn.confirmationCode(browser) : undefined,
        error,
      }),
    );
  }

  /** Asks for a code and shows the code page; the same page whoever has the identifier. */
  async function requestCode(request: FastifyRequest<Uid>, reply: FastifyReply, channel: CodeChannel, identifier: string, page: Page, retry: (error: FieldError, status: number) => FastifyReply) {
    const browser = ensureBrowserBinding(request, reply, () => codeSignIn.newBrowserSecret());
    const result = await codeSignIn.request({ channel, identifier, browser, locale: page.view.locale, interactionUid: page.details.uid, ...context(request) });
    if (!result.ok) {
      reply.header("Retry-After", String(result.retryAfterSeconds));
      return retry({ field: channel === "email" ? "email" : "phone", message: formatMessage(page.view.t, { id: "code.error.rateLimited", values: { wait: result.retryAfterSeconds } }) }, 429);
    }
    return codePage(reply, 200, page, channel, identifier, browser);
  }

  app.post<EmailCodeRoute>(
    "/interaction/:uid/email-code",
    { schema: { params: UID_PARAMS, body: formBody(["email"], { email: EMAIL_FIELD }) }, preHandler: app.csrfProtection },
    async (request, reply) => {
      const page = await signInStep(request, reply, "email");
      const email = request.body.email.trim();
      const retry = (error: FieldError, status: number) => {
        return html(reply, status, signInPage(page.view, { uid: page.details.uid, csrfToken: reply.generateCsrf(), client: page.client, email, error, offer: deps.offer(page.details.uid, page.view) }));
      };
      if (!LOOKS_LIKE_EMAIL.test(email)) return retry({ field: "email", message: formatMessage(page.view.t, { id: "code.error.email" }) }, 400);
      return requestCode(request, reply, "email", email.toLowerCase(), page, retry);
    },
  );

  app.get<Uid>("/interaction/:uid/sms-code", { schema: { params: UID_PARAMS } }, async (request, reply) => {
    const page = await signInStep(request, reply, "sms");
    return html(reply, 200, smsRequestPage(page.view, { uid: page.details.uid, csrfToken: reply.generateCsrf(), client: page.client }));
  });

  app.post<SmsCodeRoute>(
    "/interaction/:uid/sms-code",
    { schema: { params: UID_PARAMS, body: formBody(["phone"], { phone: { type: "string", maxLength: 64 } }) }, preHandler: app.csrfProtection },
    async (request, reply) => {
      const page = await signInStep(request, reply, "sms");
      const phone = request.body.phone.trim();
      const retry = (error: FieldError, status: number) =>
        html(reply, status, smsRequestPage(page.view, { uid: page.details.uid, csrfToken: reply.generateCsrf(), client: page.client, phone, error }));
      const checked = deps.phoneNumber!(phone);
      if (!checked.ok) {
        const id = checked.reason === "country" ? "sms.request.error.country" : "sms.request.error.invalid";
        return retry({ field: "phone", message: formatMessage(page.view.t, { id }) }, 400);
      }
      return requestCode(request, reply, "sms", checked.e164, page, retry);
    },
  );

  app.post<CodeRoute>(
    "/interaction/:uid/code",
    { schema: { params: UID_PARAMS, body: formBody(["channel", "identifier", "code"], { channel: CHANNEL, identifier: IDENTIFIER, code: TYPED_CODE }) }, preHandler: app.csrfProtection },
    async (request, reply) => {
      const { channel, identifier } = request.body;
      const page = await signInStep(request, reply, channel);
      const code = request.body.code.replace(/\s/g, "");
      if (!new RegExp(CODE_PATTERN).test(code)) {
        return codePage(reply, 400, page, channel, identifier, browserBinding(request), { field: "code", message: formatMessage(page.view.t, { id: "code.error.format" }) });
      }
      // The channel names its amr value: "email" or "sms".
      const result = await codeSignIn.verify({ channel, identifier, code, browser: browserBinding(request), interactionUid: page.details.uid, ...context(request) });
      if (result.ok) return finishSignIn(request, reply, page.details, result.userId, [channel]);
      const { status, message, retryAfter } = failure(result);
      if (retryAfter !== undefined) reply.header("Retry-After", String(retryAfter));
      return codePage(reply, status, page, channel, identifier, browserBinding(request), { field: "code", message: formatMessage(page.view.t, message) });
    },
  );

  app.post<ContinueRoute>(
    "/interaction/:uid/code/continue",
    { schema: { params: UID_PARAMS, body: formBody(["channel", "identifier"], { channel: CHANNEL, identifier: IDENTIFIER }) }, preHandler: app.csrfProtection },
    async (request, reply) => {
      const { channel, identifier } = request.body;
      const page = await signInStep(request, reply, channel);
      const result = await codeSignIn.continueApproved({ channel, identifier, browser: browserBinding(request), interactionUid: page.details.uid, ...context(request) });
      if (result.ok) return finishSignIn(request, reply, page.details, result.userId, [channel]);
      return codePage(reply, 400, page, channel, identifier, browserBinding(request), { field: "continue", message: formatMessage(page.view.t, failure(result).message) });
    },
  );

  // The link's pages. Their language is the one the code was asked in.
  app.get<TokenRoute>("/email-link/:token", { schema: { params: tokenParams } }, async (request, reply) => {
    const { token } = request.params;
    const link = await codeSignIn.inspectLink(token, browserBinding(request));
    if (!link || !link.interactionUid) throw invalidEmailLink("GET of a link that cannot be used");
    const view = views.forRequest({ uiLocales: link.locale });
    if (!link.sameBrowser) return html(reply, 200, linkOtherBrowserPage(view, { token, csrfToken: reply.generateCsrf(LINK_CSRF_COOKIE) }));
    const signIn = link.purpose !== "sign_up";
    const action = `/interaction/${link.interactionUid}/${signIn ? "link" : "sign-up/link"}`;
    await continuingPagePolicy(reply, link.interactionUid);
    return html(reply, 200, linkSameBrowserPage(view, { action, token, csrfToken: reply.generateCsrf(), identifier: link.identifier, purpose: signIn ? "sign_in" : "sign_up" }));
  });

  app.post<ApproveRoute>(
    "/email-link/:token",
    { schema: { params: tokenParams, body: formBody(["confirmation"], { confirmation: TYPED_CODE }) }, preHandler: app.csrfProtection },
    async (request, reply) => {
      const { token } = request.params;
      const link = await codeSignIn.inspectLink(token, browserBinding(request));
      if (!link) throw invalidEmailLink("POST of a link that cannot be used");
      const view = views.forRequest({ uiLocales: link.locale });
      const result = await codeSignIn.approveLink({ token, confirmation: request.body.confirmation.replace(/\s/g, ""), ...context(request) });
      if (result.ok) return html(reply, 200, linkApprovedPage(view));
      if (result.reason === "invalid" && !(await codeSignIn.inspectLink(token, undefined))) throw invalidEmailLink("the link stopped working during its confirmation");
      const { status, message, retryAfter } = failure(result);
      if (retryAfter !== undefined) reply.header("Retry-After", String(retryAfter));
      const error = { field: "confirmation", message: formatMessage(view.t, message) };
      return html(reply, status, linkOtherBrowserPage(view, { token, csrfToken: reply.generateCsrf(LINK_CSRF_COOKIE), error }));
    },
  );

  app.post<LinkPostRoute>(
    "/interaction/:uid/link",
    { schema: { params: UID_PARAMS, body: formBody(["token"], { token: { type: "string", pattern: SECRET_PATTERN } }) }, preHandler: app.csrfProtection },
    async (request, reply) => {
      const page = await signInStep(request, reply, "email");
      const result = await codeSignIn.signInWithLink({ token: request.body.token, browser: browserBinding(request), interactionUid: page.details.uid, ...context(request) });
      if (!result.ok) throw invalidEmailLink("POST of a sign-in link that cannot be used");
      return finishSignIn(request, reply, page.details, result.userId, ["email"]);
    },
  );
}
