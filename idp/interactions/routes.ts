// The sign-in and consent pages that oidc-provider sends people to, and the form posts behind them.
// Handlers stay short: credentials are checked in accounts/, grants are made with the provider's API.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type Provider from "oidc-provider";
import { errors, type InteractionResults } from "oidc-provider";
import type { SignInContext, SignInResult } from "../accounts/sign-in.ts";
import type { ClientStore } from "../store/clients.ts";
import { idpErrors } from "../errors.ts";
import { formatMessage, type Message } from "../pages/i18n.ts";
import type { ClientBrand, View, Views } from "../pages/layout.ts";
import { consentPage, signInPage } from "../pages/sign-in.ts";
import { setPagePolicy } from "../http/security-headers.ts";
import { CSRF_FIELD, EMAIL_FIELD, UID_PATTERN } from "./schemas.ts";

export type InteractionDeps = {
  /** The current provider: it is rebuilt when the signing keys change. */
  provider: () => Provider;
  clients: Pick<ClientStore, "find">;
  signInWithPassword: (email: string, password: string, context?: SignInContext) => Promise<SignInResult>;
  /** The sign-in post's rate limits (per address, per email): seconds to wait when over one. */
  limitSignIn?: (ip: string, email: string) => Promise<number | undefined>;
  views: Views;
  /** The "Forgot password?" link of a sign-in page; without it the page has none. */
  forgotPasswordHref?: (uid: string, view: View) => string;
};

type Details = Awaited<ReturnType<Provider["interactionDetails"]>>;
type UidParams = { Params: { uid: string } };
type LoginBody = { Params: { uid: string }; Body: { email: string; password: string; _csrf: string } };

const paramsSchema = {
  type: "object",
  required: ["uid"],
  properties: { uid: { type: "string", pattern: UID_PATTERN } },
} as const;

const csrfOnlyBody = {
  type: "object",
  required: ["_csrf"],
  properties: { _csrf: CSRF_FIELD },
} as const;

// Long enough for any real password, short enough that hashing a hostile one stays cheap.
const loginBody = {
  type: "object",
  required: ["email", "password", "_csrf"],
  properties: {
    email: EMAIL_FIELD,
    password: { type: "string", maxLength: 1024 },
    _csrf: CSRF_FIELD,
  },
} as const;

type SignInFailure = Exclude<SignInResult, { ok: true }> | { ok: false; reason: "rate_limited"; retryAfterSeconds: number };

/** Status and message of a failed sign-in; the same for a registered and an unknown email. */
function failureResponse(result: SignInFailure): { status: number; message: Message; retryAfter?: number } {
  switch (result.reason) {
    case "invalid_credentials":
      return { status: 401, message: { id: "login.error.invalidCredentials" } };
    case "disabled":
      return { status: 401, message: { id: "login.error.disabled" } };
    case "locked":
      return { status: 429, message: { id: "login.error.locked", values: { wait: result.retryAfterSeconds } }, retryAfter: result.retryAfterSeconds };
    case "rate_limited":
      return { status: 429, message: { id: "login.error.rateLimited", values: { wait: result.retryAfterSeconds } }, retryAfter: result.retryAfterSeconds };
  }
}

export async function interactionRoutes(app: FastifyInstance, deps: InteractionDeps): Promise<void> {
  const { clients, views } = deps;

  /** The application as the pages show it: its display name (or id) and logo. */
  async function clientBrand(view: View, clientId: unknown): Promise<ClientBrand> {
    const client = typeof clientId === "string" ? await clients.find(clientId) : undefined;
    return { name: client?.name ?? client?.id ?? view.t("layout.theApplication"), logoUri: client?.logoUri };
  }

  /** The interaction's view (its ui_locales, then Accept-Language) and the client it is for. */
  async function pageFor(request: FastifyRequest, reply: FastifyReply, details: Details): Promise<{ view: View; client: ClientBrand }> {
    const view = views.forRequest({ uiLocales: details.params.ui_locales, acceptLanguage: request.headers["accept-language"] });
    const client = await clientBrand(view, details.params.client_id);
    // This page's forms end in a redirect to the client (validated by the provider), and it shows the logos.
    setPagePolicy(reply, { formTargets: [details.params.redirect_uri], imageSources: [views.brand.logoUrl, client.logoUri] });
    return { view, client };
  }

  /** Loads the interaction this browser is in; the expired page when there is none. */
  async function loadDetails(request: FastifyRequest<UidParams>, reply: FastifyReply): Promise<Details> {
    try {
      const details = await deps.provider().interactionDetails(request.raw, reply.raw);
      if (details.uid === request.params.uid) return details;
    } catch (error) {
      if (!(error instanceof errors.SessionNotFound)) throw error;
    }
    throw idpErrors.interactionExpired("no interaction with this uid for this browser");
  }

  /**
   * Records the interaction's result and sends the browser back to the provider. The session may have
   * ended (signed out in another tab) or changed hands since the interaction was loaded: then the
   * provider no longer finds it, and this sign-in has expired like one found so at loading.
   */
  async function finish(request: FastifyRequest, reply: FastifyReply, result: InteractionResults | (() => Promise<InteractionResults>)) {
    let redirectTo: string;
    try {
      const outcome = typeof result === "function" ? await result() : result;
      redirectTo = await deps.provider().interactionResult(request.raw, reply.raw, outcome, { mergeWithLastSubmission: false });
    } catch (error) {
      if (!(error instanceof errors.SessionNotFound)) throw error;
      throw idpErrors.interactionExpired("the session ended before the interaction finished");
    }
    return reply.redirect(redirectTo, 303);
  }

  /** Grants everything the client asked for that the user has not granted yet. */
  async function grantRequested(details: Details): Promise<InteractionResults> {
    const { prompt, params, session } = details;
    const existing = details.grantId ? await deps.provider().Grant.find(details.grantId) : undefined;
    // Signing out revokes the session's grants: one gone since the page loaded ended this sign-in.
    if (details.grantId && !existing) throw new errors.SessionNotFound("grant revoked during the interaction");
    const grant = existing ?? new (deps.provider().Grant)({ accountId: session!.accountId, clientId: params.client_id as string });
    const missing = prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(" "));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(" "));
    }
    return { consent: { grantId: await grant.save() } };
  }

  app.get<UidParams>("/interaction/:uid", { schema: { params: paramsSchema } }, async (request, reply) => {
    const details = await loadDetails(request, reply);
    if (details.prompt.name !== "login") {
      const registered = await clients.find(details.params.client_id as string);
      if (registered?.firstParty) return finish(request, reply, () => grantRequested(details));
    }
    const { view, client } = await pageFor(request, reply, details);
    const csrfToken = reply.generateCsrf();
    if (details.prompt.name === "login") {
      const loginHint = typeof details.params.login_hint === "string" ? details.params.login_hint : undefined;
      const forgotPasswordHref = deps.forgotPasswordHref?.(details.uid, view);
      return reply.type("text/html").send(signInPage(view, { uid: details.uid, csrfToken, client, email: loginHint, forgotPasswordHref }));
    }
    const scopes = String(details.params.scope ?? "").split(" ").filter(Boolean);
    return reply.type("text/html").send(consentPage(view, { uid: details.uid, csrfToken, client, scopes }));
  });

  const formRoute = { schema: { params: paramsSchema, body: csrfOnlyBody }, preHandler: app.csrfProtection };

  app.post<LoginBody>(
    "/interaction/:uid/login",
    { schema: { params: paramsSchema, body: loginBody }, preHandler: app.csrfProtection },
    async (request, reply) => {
      const details = await loadDetails(request, reply);
      if (details.prompt.name !== "login") return reply.redirect(`/interaction/${details.uid}`, 303);
      const { email, password } = request.body;
      const wait = await deps.limitSignIn?.(request.ip, email);
      const result: SignInResult | SignInFailure =
        wait !== undefined
          ? { ok: false, reason: "rate_limited", retryAfterSeconds: wait }
          : await deps.signInWithPassword(email, password, { ip: request.ip, userAgent: request.headers["user-agent"] });
      if (!result.ok) {
        const failure = failureResponse(result);
        if (failure.retryAfter !== undefined) reply.header("Retry-After", String(failure.retryAfter));
        const { view, client } = await pageFor(request, reply, details);
        const error = { field: "email", message: formatMessage(view.t, failure.message) };
        const forgotPasswordHref = deps.forgotPasswordHref?.(details.uid, view);
        const page = signInPage(view, { uid: details.uid, csrfToken: reply.generateCsrf(), client, email, error, forgotPasswordHref });
        return reply.code(failure.status).type("text/html").send(page);
      }
      return finish(request, reply, { login: { accountId: result.user.id } });
    },
  );

  app.post<UidParams>("/interaction/:uid/confirm", formRoute, async (request, reply) => {
    const details = await loadDetails(request, reply);
    if (details.prompt.name !== "consent") return reply.redirect(`/interaction/${details.uid}`, 303);
    return finish(request, reply, () => grantRequested(details));
  });

  app.post<UidParams>("/interaction/:uid/abort", formRoute, async (request, reply) => {
    const details = await loadDetails(request, reply);
    return finish(request, reply, { error: "access_denied", error_description: "The user cancelled the sign-in." });
  });
}
