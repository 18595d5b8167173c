// Signing in with a passkey inside the login prompt: the options the sign-in page's script asks
// for (a challenge bound to this interaction), and the form post carrying the signed assertion.
// Passwordless when nobody has signed in yet; the second factor when a first factor is pending
// (then only that person's passkeys are offered, and finishSignIn merges the methods).
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Passkeys, PasskeySignInFailure } from "../accounts/passkeys.ts";
import { idpErrors } from "../errors.ts";
import { formatMessage, type Message } from "../pages/i18n.ts";
import { signInPage, type SignInOffer } from "../pages/sign-in.ts";
import type { View } from "../pages/layout.ts";
import { interactionHelpers, type Details, type InteractionContext, type UidParams } from "./interaction-helpers.ts";
import { formBody, UID_PARAMS } from "./schemas.ts";

export type PasskeyRouteDeps = InteractionContext & {
  passkeys: Passkeys;
  offer: (uid: string, view: View) => SignInOffer;
  /** The sign-in post's per-address limit: seconds to wait when over it. */
  limitSignIn?: (ip: string, identifier: string) => Promise<number | undefined>;
  /**
   * The person of a first factor this interaction is waiting to complete (the MFA step), whose
   * passkey is then the second factor; undefined for a passwordless sign-in.
   */
  firstFactorAccount?: (details: Details) => string | undefined | Promise<string | undefined>;
};

// An ML-DSA-87 signature is 4.6 kB, so an assertion's JSON stays well under this.
const CREDENTIAL_MAX_LENGTH = 32 * 1024;
const assertionBody = formBody(["credential"], { credential: { type: "string", minLength: 2, maxLength: CREDENTIAL_MAX_LENGTH } });
const optionsBody = { type: "object", additionalProperties: false, properties: {} } as const;

type AssertionRoute = UidParams & { Body: { credential: string; _csrf: string } };

/** The assertion as the browser's toJSON() gives it, checked only for shape: the library checks the rest. */
function parseAssertion(text: string) {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const assertion = value as { id?: unknown; rawId?: unknown; type?: unknown; response?: Record<string, unknown> };
  const response = assertion?.response;
  const strings = (...values: unknown[]) => values.every((item) => typeof item === "string");
  if (typeof value !== "object" || value === null || assertion.type !== "public-key" || !strings(assertion.id, assertion.rawId)) return undefined;
  if (typeof response !== "object" || response === null || !strings(response.clientDataJSON, response.authenticatorData, response.signature)) return undefined;
  if (response.userHandle !== undefined && response.userHandle !== null && typeof response.userHandle !== "string") return undefined;
  return {
    id: assertion.id as string,
    rawId: assertion.rawId as string,
    type: "public-key" as const,
    clientExtensionResults: {},
    response: {
      clientDataJSON: response.clientDataJSON as string,
      authenticatorData: response.authenticatorData as string,
      signature: response.signature as string,
      userHandle: (response.userHandle as string | null | undefined) ?? undefined,
    },
  };
}

function failureMessage(failure: PasskeySignInFailure | { reason: "rate_limited"; retryAfterSeconds: number }): { status: number; message: Message; retryAfter?: number } {
  switch (failure.reason) {
    case "invalid":
      return { status: 401, message: { id: "passkey.error.invalid" } };
    case "disabled":
      return { status: 401, message: { id: "login.error.disabled" } };
    case "locked":
      return { status: 429, message: { id: "passkey.error.locked", values: { wait: failure.retryAfterSeconds } }, retryAfter: failure.retryAfterSeconds };
    case "rate_limited":
      return { status: 429, message: { id: "login.error.rateLimited", values: { wait: failure.retryAfterSeconds } }, retryAfter: failure.retryAfterSeconds };
  }
}

export async function passkeyRoutes(app: FastifyInstance, deps: PasskeyRouteDeps): Promise<void> {
  const { passkeys } = deps;
  const { loadDetails, pageFor, finishSignIn } = interactionHelpers(deps);

  /** The interaction, which must still be at its login prompt. */
  async function loginDetails(request: FastifyRequest<UidParams>, reply: FastifyReply): Promise<Details> {
    const details = await loadDetails(request, reply);
    if (details.prompt.name !== "login") throw idpErrors.invalidRequest("this interaction is not signing in");
    return details;
  }

  app.post<UidParams>(
    "/interaction/:uid/passkey/options",
    { schema: { params: UID_PARAMS, body: optionsBody }, preHandler: app.csrfProtection },
    async (request, reply) => {
      const details = await loginDetails(request, reply);
      const userId = await deps.firstFactorAccount?.(details);
      const options = await passkeys.authenticationOptions({ interactionUid: details.uid, userId });
      return reply.type("application/json; charset=utf-8").send(options);
    },
  );

  app.post<AssertionRoute>(
    "/interaction/:uid/passkey",
    { schema: { params: UID_PARAMS, body: assertionBody }, preHandler: app.csrfProtection },
    async (request, reply) => {
      const details = await loginDetails(request, reply);
      const assertion = parseAssertion(request.body.credential);
      const wait = await deps.limitSignIn?.(request.ip, `passkey:${assertion?.id ?? ""}`);
      const expectedUserId = await deps.firstFactorAccount?.(details);
      const result =
        wait !== undefined
          ? ({ ok: false, reason: "rate_limited", retryAfterSeconds: wait } as const)
          : assertion
            ? await passkeys.signIn({ interactionUid: details.uid, response: assertion, expectedUserId, context: { ip: request.ip, userAgent: request.headers["user-agent"] } })
            : ({ ok: false, reason: "invalid" } as const);
      if (result.ok) return finishSignIn(request, reply, details, result.userId, result.methods);
      const failure = failureMessage(result);
      if (failure.retryAfter !== undefined) reply.header("Retry-After", String(failure.retryAfter));
      const { view, client } = await pageFor(request, reply, details);
      // The error is about the passkey, not a field the person typed.
      const error = { message: formatMessage(view.t, failure.message) };
      const page = signInPage(view, { uid: details.uid, csrfToken: reply.generateCsrf(), client, error, offer: deps.offer(details.uid, view) });
      return reply.code(assertion ? failure.status : 400).type("text/html").send(page);
    },
  );
}
