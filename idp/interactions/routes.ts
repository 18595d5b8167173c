// The sign-in and consent pages that oidc-provider sends people to, and the form posts behind them.
// Handlers stay short: credentials are checked in accounts/, grants are made with the provider's API.
import type { FastifyInstance } from "fastify";
import { errors, type InteractionResults } from "oidc-provider";
import type { SignInContext, SignInResult } from "../accounts/sign-in.ts";
import { idpErrors } from "../errors.ts";
import { formatMessage, type Message } from "../pages/i18n.ts";
import type { View } from "../pages/layout.ts";
import { consentPage, signInPage, type SignInOffer } from "../pages/sign-in.ts";
import { interactionHelpers, stepUpOf, type Details, type InteractionContext, type UidParams } from "./interaction-helpers.ts";
import { EMAIL_FIELD, formBody, UID_PARAMS } from "./schemas.ts";

export type InteractionDeps = InteractionContext & {
  signInWithPassword: (email: string, password: string, context?: SignInContext) => Promise<SignInResult>;
  /** The sign-in post's rate limits (per address, per email): seconds to wait when over one. */
  limitSignIn?: (ip: string, email: string) => Promise<number | undefined>;
  /** What a sign-in page offers: the methods of SIGN_IN_METHODS, sign-up, "Forgot password?". */
  offer: (uid: string, view: View) => SignInOffer;
  /** Home-realm discovery: the upstream provider (idp/federation/) an email's domain signs in at. */
  homeRealm?: (email: string) => string | undefined;
};

type LoginBody = { Params: { uid: string }; Body: { email: string; password: string; _csrf: string } };

const csrfOnlyBody = formBody([], {});
// Long enough for any real password, short enough that hashing a hostile one stays cheap.
const loginBody = formBody(["email", "password"], { email: EMAIL_FIELD, password: { type: "string", maxLength: 1024 } });

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
  const { clients } = deps;
  const { loadDetails, pageFor, finish, finishSignIn } = interactionHelpers(deps);

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

  app.get<UidParams>("/interaction/:uid", { schema: { params: UID_PARAMS } }, async (request, reply) => {
    const details = await loadDetails(request, reply);
    if (details.prompt.name !== "login") {
      const registered = await clients.find(details.params.client_id as string);
      if (registered?.firstParty) return finish(request, reply, () => grantRequested(details));
    }
    // A step-up (acr_values above the session's level) asks the session's person only for the missing factor.
    const stepUp = deps.secondFactor && stepUpOf(details);
    if (stepUp) return finishSignIn(request, reply, details, stepUp.accountId, []);
    const { view, client } = await pageFor(request, reply, details);
    const csrfToken = reply.generateCsrf();
    if (details.prompt.name === "login") {
      const loginHint = typeof details.params.login_hint === "string" ? details.params.login_hint : undefined;
      return reply.type("text/html").send(signInPage(view, { uid: details.uid, csrfToken, client, email: loginHint, offer: deps.offer(details.uid, view) }));
    }
    const scopes = String(details.params.scope ?? "").split(" ").filter(Boolean);
    return reply.type("text/html").send(consentPage(view, { uid: details.uid, csrfToken, client, scopes }));
  });

  const formRoute = { schema: { params: UID_PARAMS, body: csrfOnlyBody }, preHandler: app.csrfProtection };

  app.post<LoginBody>(
    "/interaction/:uid/login",
    { schema: { params: UID_PARAMS, body: loginBody }, preHandler: app.csrfProtection },
    async (request, reply) => {
      const details = await loadDetails(request, reply);
      if (details.prompt.name !== "login") return reply.redirect(`/interaction/${details.uid}`, 303);
      const { view: offerView } = await pageFor(request, reply, details);
      if (!deps.offer(details.uid, offerView).password) throw idpErrors.notFound();
      const { email, password } = request.body;
      // An email whose domain has an upstream provider signs in there, whatever was typed as a password.
      const realm = deps.homeRealm?.(email);
      if (realm) return reply.redirect(`/interaction/${details.uid}/upstream/${realm}?${new URLSearchParams({ login_hint: email })}`, 303);
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
        const page = signInPage(view, { uid: details.uid, csrfToken: reply.generateCsrf(), client, email, error, offer: deps.offer(details.uid, view) });
        return reply.code(failure.status).type("text/html").send(page);
      }
      return finishSignIn(request, reply, details, result.user.id, ["pwd"]);
    },
  );

  app.post<UidParams>("/interaction/:uid/confirm", formRoute, async (request, reply) => {
    const details = await loadDetails(request, reply);
    if (details.prompt.name !== "consent") return reply.redirect(`/interaction/${details.uid}`, 303);
    return finish(request, reply, () => grantRequested(details));
  });

  app.post<UidParams>("/interaction/:uid/abort", formRoute, async (request, reply) => {
    await loadDetails(request, reply); // only this browser's own interaction can be cancelled
    return finish(request, reply, { error: "access_denied", error_description: "The user cancelled the sign-in." });
  });
}
