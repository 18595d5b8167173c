// Sign-in through an upstream identity provider: "Continue with <name>" starts it (state, nonce
// and PKCE verifier sealed in a cookie of this browser, bound to the interaction), the provider
// sends the browser back to one fixed callback, which hands it to the interaction it belongs to;
// there the answer is verified and the person signed in, linked after a password, or refused on a
// clear page. The work is in federation/.
import { timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { SignInContext, SignInResult } from "../accounts/sign-in.ts";
import { IdpError, idpErrors } from "../errors.ts";
import type { FederatedSignIn, FederationRefusal } from "../federation/federated-sign-in.ts";
import { UPSTREAM_CALLBACK_PATH } from "../federation/upstream-providers.ts";
import { UpstreamError, type UpstreamClaims, type UpstreamClient, type UpstreamFailure } from "../federation/upstream-client.ts";
import type { Sealer } from "../mail/seal.ts";
import { formatMessage, type MessageId } from "../pages/i18n.ts";
import type { ClientBrand, FieldError, View } from "../pages/layout.ts";
import { upstreamLinkPage } from "../pages/upstream.ts";
import type { UpstreamProvider } from "../store/upstreams.ts";
import { interactionHelpers, type Details, type InteractionContext } from "./interaction-helpers.ts";
import { EMAIL_FIELD, formBody, UID_PATTERN } from "./schemas.ts";

/** The HKDF info of the pending-sign-in cookie's sealing key (same cookie keys as mail and secrets). */
export const UPSTREAM_STATE_INFO = "convex-idp upstream state v1";

export type UpstreamRouteDeps = InteractionContext & {
  findProvider: (id: string) => Promise<UpstreamProvider | undefined>;
  client: UpstreamClient;
  federation: FederatedSignIn;
  /** Seals this browser's pending sign-in (createSealer(cookieKeys, UPSTREAM_STATE_INFO)). */
  sealer: Sealer;
  signInWithPassword: (email: string, password: string, context?: SignInContext) => Promise<SignInResult>;
  limitSignIn?: (ip: string, email: string) => Promise<number | undefined>;
  now: () => Date;
};

const COOKIE = "idp_upstream";
/** Long enough for a login at the provider (with its own second factor), short enough to be useless later. */
const PENDING_SECONDS = 15 * 60;

/** Between the redirect and the callback: what the answer must match. */
type Authorizing = { step: "authorize"; uid: string; provider: string; state: string; nonce: string; verifier: string; exp: number };
/** Between the callback and the password: who the provider said the person is. */
type Linking = { step: "link"; uid: string; provider: string; claims: UpstreamClaims; userId: string; email: string; exp: number };
type Pending = Authorizing | Linking;

// What a provider's answer may carry; nothing else is passed on.
const ANSWER_FIELDS = ["code", "state", "error", "error_description", "iss"] as const;
const ANSWER = {
  type: "object",
  properties: Object.fromEntries(ANSWER_FIELDS.map((name) => [name, { type: "string", maxLength: 4096 }])),
} as const;
type Answer = Partial<Record<(typeof ANSWER_FIELDS)[number], string>>;

const PROVIDER_ID = { type: "string", pattern: "^[a-z0-9][a-z0-9-]{0,31}$" } as const;
const startParams = { type: "object", required: ["uid", "id"], properties: { uid: { type: "string", pattern: UID_PATTERN }, id: PROVIDER_ID } } as const;
const uidParams = { type: "object", required: ["uid"], properties: { uid: { type: "string", pattern: UID_PATTERN } } } as const;
const linkBody = formBody(["password"], { password: { type: "string", maxLength: 1024 }, email: EMAIL_FIELD });

const FAILURE: Record<UpstreamFailure, { status: number; message: MessageId }> = {
  denied: { status: 400, message: "error.upstream.denied" },
  state: { status: 400, message: "error.upstream.state" },
  unreachable: { status: 502, message: "error.upstream.unreachable" },
  invalid: { status: 400, message: "error.upstream.invalid" },
};
const REFUSAL: Record<FederationRefusal, { status: number; message: MessageId }> = {
  no_account: { status: 403, message: "error.upstream.noAccount" },
  no_email: { status: 403, message: "error.upstream.noEmail" },
  cannot_link: { status: 409, message: "error.upstream.cannotLink" },
  disabled: { status: 403, message: "error.upstream.disabled" },
};

function upstreamError(provider: UpstreamProvider, code: string, found: { status: number; message: MessageId }, detail: string, cause?: unknown): IdpError {
  return new IdpError({
    status: found.status,
    code: `upstream_${code}`,
    title: "error.upstream.title",
    message: { id: found.message, values: { provider: provider.displayName } },
    detail: `upstream ${provider.id}: ${detail}`,
    cause,
  });
}

const failed = (provider: UpstreamProvider, error: UpstreamError) => upstreamError(provider, error.reason, FAILURE[error.reason], error.message, error.cause);

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

export async function upstreamRoutes(app: FastifyInstance, deps: UpstreamRouteDeps): Promise<void> {
  const { client, federation, sealer } = deps;
  const { loadDetails, pageFor, finishSignIn } = interactionHelpers(deps);
  const context = (request: FastifyRequest) => ({ ip: request.ip, userAgent: request.headers["user-agent"] });
  const seconds = () => Math.floor(deps.now().getTime() / 1000);

  function remember(reply: FastifyReply, pending: Pending) {
    const value = sealer.seal(pending).toString("base64url");
    reply.setCookie(COOKIE, value, { path: "/", httpOnly: true, sameSite: "lax", secure: "auto", maxAge: PENDING_SECONDS });
  }
  function forget(reply: FastifyReply) {
    reply.clearCookie(COOKIE, { path: "/" });
  }
  /** This browser's pending upstream sign-in, unexpired and for this interaction. */
  function pendingOf(request: FastifyRequest, uid?: string): Pending | undefined {
    const raw = request.cookies[COOKIE];
    if (!raw || raw.length > 8192) return undefined;
    const pending = sealer.open(Buffer.from(raw, "base64url")) as Pending | undefined;
    if (!pending || typeof pending.exp !== "number" || pending.exp < seconds()) return undefined;
    if (uid !== undefined && pending.uid !== uid) return undefined;
    return pending;
  }

  /** The enabled provider, or the not-found page. */
  async function enabledProvider(id: string): Promise<UpstreamProvider> {
    const provider = await deps.findProvider(id);
    if (!provider || !provider.enabled) throw idpErrors.notFound();
    return provider;
  }

  async function loginStep(request: FastifyRequest<{ Params: { uid: string } }>, reply: FastifyReply): Promise<Details> {
    const details = await loadDetails(request, reply);
    if (details.prompt.name !== "login") throw idpErrors.interactionExpired("the interaction is past its login prompt");
    return details;
  }

  function linkPage(reply: FastifyReply, status: number, page: { details: Details; view: View; client: ClientBrand }, provider: UpstreamProvider, email: string, error?: FieldError) {
    const body = upstreamLinkPage(page.view, { uid: page.details.uid, csrfToken: reply.generateCsrf(), client: page.client, provider: provider.displayName, email, error });
    return reply.code(status).type("text/html").send(body);
  }

  // "Continue with <name>", and home-realm discovery (with the typed email as login_hint).
  app.get<{ Params: { uid: string; id: string }; Querystring: { login_hint?: string } }>(
    "/interaction/:uid/upstream/:id",
    { schema: { params: startParams, querystring: { type: "object", properties: { login_hint: EMAIL_FIELD } } } },
    async (request, reply) => {
      const details = await loginStep(request, reply);
      const provider = await enabledProvider(request.params.id);
      let started;
      try {
        started = await client.begin(provider, { loginHint: request.query.login_hint });
      } catch (error) {
        if (error instanceof UpstreamError) throw failed(provider, error);
        throw error;
      }
      remember(reply, { step: "authorize", uid: details.uid, provider: provider.id, ...started.expected, exp: seconds() + PENDING_SECONDS });
      return reply.redirect(started.url.href, 303);
    },
  );

  // The one redirect URI every provider knows: hands the answer to the interaction it belongs to,
  // whose own cookie (path /interaction/<uid>) is sent only there.
  const forward = (answer: Answer) => new URLSearchParams(ANSWER_FIELDS.flatMap((name) => (answer[name] !== undefined ? [[name, answer[name]!]] : [])));
  app.get<{ Querystring: Answer }>(UPSTREAM_CALLBACK_PATH, { schema: { querystring: ANSWER } }, async (request, reply) => {
    const pending = pendingOf(request);
    if (!pending || pending.step !== "authorize") throw idpErrors.interactionExpired("no pending upstream sign-in in this browser");
    return reply.redirect(`/interaction/${pending.uid}/upstream-return?${forward(request.query)}`, 303);
  });
  // Apple answers with a cross-site form post (response_mode=form_post), which carries no SameSite
  // cookie: a redirect to the GET above is a top-level navigation, which does.
  app.post<{ Body: Answer }>(UPSTREAM_CALLBACK_PATH, { schema: { body: ANSWER } }, async (request, reply) => {
    return reply.redirect(`${UPSTREAM_CALLBACK_PATH}?${forward(request.body ?? {})}`, 303);
  });

  app.get<{ Params: { uid: string }; Querystring: Answer }>(
    "/interaction/:uid/upstream-return",
    { schema: { params: uidParams, querystring: ANSWER } },
    async (request, reply) => {
      const details = await loginStep(request, reply);
      const pending = pendingOf(request, details.uid);
      if (!pending || pending.step !== "authorize") throw idpErrors.interactionExpired("no pending upstream sign-in for this interaction");
      // Single use: the cookie goes whatever the answer.
      forget(reply);
      const provider = await enabledProvider(pending.provider);
      const answer = request.query;
      if (answer.error !== undefined) throw failed(provider, new UpstreamError("denied", `the provider answered ${answer.error}`));
      if (answer.state === undefined || !sameText(answer.state, pending.state)) throw failed(provider, new UpstreamError("state", "the state does not match this browser's"));
      let claims: UpstreamClaims;
      try {
        claims = await client.complete(provider, forward(answer), pending);
      } catch (error) {
        if (error instanceof UpstreamError) throw failed(provider, error);
        throw error;
      }
      const outcome = await federation.resolve(provider, claims, context(request));
      switch (outcome.kind) {
        case "signed_in":
          return finishSignIn(request, reply, details, outcome.userId, outcome.methods);
        case "refused":
          throw upstreamError(provider, outcome.reason, REFUSAL[outcome.reason], `refused: ${outcome.reason}`);
        case "confirm": {
          remember(reply, { step: "link", uid: details.uid, provider: provider.id, claims, userId: outcome.userId, email: outcome.email, exp: seconds() + PENDING_SECONDS });
          const page = { details, ...(await pageFor(request, reply, details)) };
          return linkPage(reply, 200, page, provider, outcome.email);
        }
      }
    },
  );

  // The local account's password confirms the link (the email is the account's, from the cookie).
  app.post<{ Params: { uid: string }; Body: { password: string } }>(
    "/interaction/:uid/upstream-link",
    { schema: { params: uidParams, body: linkBody }, preHandler: app.csrfProtection },
    async (request, reply) => {
      const details = await loginStep(request, reply);
      const pending = pendingOf(request, details.uid);
      if (!pending || pending.step !== "link") throw idpErrors.interactionExpired("no upstream identity waiting for a link in this browser");
      const provider = await enabledProvider(pending.provider);
      const page = { details, ...(await pageFor(request, reply, details)) };
      const wait = await deps.limitSignIn?.(request.ip, pending.email);
      if (wait !== undefined) {
        reply.header("Retry-After", String(wait));
        return linkPage(reply, 429, page, provider, pending.email, { field: "password", message: formatMessage(page.view.t, { id: "login.error.rateLimited", values: { wait } }) });
      }
      const result = await deps.signInWithPassword(pending.email, request.body.password, context(request));
      if (!result.ok || result.user.id !== pending.userId) {
        const locked = !result.ok && result.reason === "locked";
        if (locked) reply.header("Retry-After", String(result.retryAfterSeconds));
        const message = locked ? { id: "login.error.locked" as const, values: { wait: result.retryAfterSeconds } } : { id: "login.error.invalidCredentials" as const };
        return linkPage(reply, locked ? 429 : 401, page, provider, pending.email, { field: "password", message: formatMessage(page.view.t, message) });
      }
      const methods = await federation.confirmLink(provider, pending.claims, result.user, { ...context(request), locale: page.view.locale });
      forget(reply);
      if (!methods) throw upstreamError(provider, "cannot_link", REFUSAL.cannot_link, "linked to someone else meanwhile");
      return finishSignIn(request, reply, details, result.user.id, methods);
    },
  );
}
