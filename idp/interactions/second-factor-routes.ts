// The second step of a sign-in (/interaction/:uid/second-factor): a first factor that did not meet
// the MFA policy is held for this interaction (finishSignIn), and these routes add the missing
// factor for the same person: a code from their authenticator app, a recovery code, or (through the
// passkeys module's own route) a passkey; or, for a person who has none and must have one, setting
// up an app here, with the recovery codes shown once. Every failure counts towards the lockout.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Html } from "../pages/html.ts";
import type { View } from "../pages/layout.ts";
import { formatMessage, type Message } from "../pages/i18n.ts";
import { qrCodeSvg, recoveryCodesPage, secondFactorPage, totpEnrolmentPage } from "../pages/second-factor.ts";
import { completeMethods, type AuthenticationMethod } from "../accounts/authentication-methods.ts";
import { RECOVERY_CODE_PATTERN, TOTP_ENROLMENT_PATTERN, type FactorCheck, type SecondFactors } from "../accounts/second-factors.ts";
import type { UserStore } from "../store/users.ts";
import type { SecondFactorStore } from "../store/second-factors.ts";
import { requestedLevel } from "../oidc/acr-values.ts";
import { interactionHelpers, secondFactorPath, type Details, type InteractionContext, type UidParams } from "./interaction-helpers.ts";
import { formBody, UID_PARAMS } from "./schemas.ts";

/** What the passkeys module lends the second-factor page (app.ts wires it). */
export type PasskeyHooks = {
  hasPasskeys(userId: string): Promise<boolean>;
  /** Its button on the second-factor page; its own route verifies and calls finishSignIn(..., ["hwk"|"swk", "user"]). */
  secondFactorOffer?(input: { uid: string; view: View; csrfToken: string }): Html;
};

export type SecondFactorRouteDeps = InteractionContext & {
  secondFactors: SecondFactors;
  pending: Pick<SecondFactorStore, "findPending" | "savePending">;
  users: Pick<UserStore, "findById">;
  /** The sign-in rate limits (per address, per email): seconds to wait when over one. */
  limitSignIn?: (ip: string, email: string) => Promise<number | undefined>;
  passkeys?: PasskeyHooks;
};

/** Six digits, as apps show them (a space in the middle is forgiven). */
const TOTP_INPUT = { type: "string", pattern: "^ *[0-9]{3} ?[0-9]{3} *$" } as const;
const totpBody = formBody(["code"], { code: TOTP_INPUT });
const enrolBody = formBody(["code", "enrolment"], { code: TOTP_INPUT, enrolment: { type: "string", pattern: TOTP_ENROLMENT_PATTERN } });
const recoveryBody = formBody(["recovery_code"], { recovery_code: { type: "string", pattern: RECOVERY_CODE_PATTERN } });
const csrfOnly = formBody([], {});
const METHOD_QUERY = { type: "object", properties: { method: { type: "string", enum: ["totp", "recovery"] } }, additionalProperties: false } as const;

type CodePost = UidParams & { Body: { code: string } };
type EnrolPost = UidParams & { Body: { code: string; enrolment: string } };
type RecoveryPost = UidParams & { Body: { recovery_code: string } };

const failure = (check: Exclude<FactorCheck, { ok: true }>, invalid: Message["id"]): { status: number; message: Message } =>
  check.reason === "locked"
    ? { status: 429, message: { id: "login.error.locked", values: { wait: check.retryAfterSeconds } } }
    : { status: 401, message: { id: invalid } };

export async function secondFactorRoutes(app: FastifyInstance, deps: SecondFactorRouteDeps): Promise<void> {
  const { secondFactors, users } = deps;
  const { loadDetails, pageFor, finishSignIn } = interactionHelpers(deps);

  /** The interaction, and the person whose first factor it holds; the sign-in page when it holds none. */
  async function held(request: FastifyRequest<UidParams>, reply: FastifyReply) {
    const details = await loadDetails(request, reply);
    const pending = details.prompt.name === "login" ? await deps.pending.findPending(details.uid) : undefined;
    const user = pending && (await users.findById(pending.userId));
    if (!pending || !user || user.disabled) return { details, redirect: reply.redirect(`/interaction/${details.uid}`, 303) } as const;
    const person = { id: user.id, email: user.email };
    const context = { ip: request.ip, userAgent: request.headers["user-agent"], clientId: typeof details.params.client_id === "string" ? details.params.client_id : undefined };
    return { details, pending, person, context } as const;
  }

  async function render(
    request: FastifyRequest,
    reply: FastifyReply,
    details: Details,
    person: { id: string; email: string },
    // `enrolment`: the app this page is setting up (after a wrong code, the same key again); none: a new key.
    options: { method?: "totp" | "recovery"; status?: number; error?: Message; errorField?: string; enrolment?: string },
  ) {
    const { view, client } = await pageFor(request, reply, details);
    const csrfToken = reply.generateCsrf();
    const error = options.error && { field: options.errorField ?? "code", message: formatMessage(view.t, options.error) };
    const factors = await secondFactors.factors(person.id);
    const passkeys = (await deps.passkeys?.hasPasskeys(person.id)) ?? false;
    const passkeyOffer = passkeys ? deps.passkeys?.secondFactorOffer?.({ uid: details.uid, view, csrfToken }) : undefined;
    // A person without any factor sets up an app here (the policy asked for one they do not have).
    if (!factors.totp && !passkeys) {
      const enrolment = await secondFactors.beginTotp(person, options.enrolment);
      if (!enrolment) return reply.redirect(secondFactorPath(details.uid), 303);
      const page = totpEnrolmentPage(view, {
        action: `${secondFactorPath(details.uid)}/enrol`,
        csrfToken,
        client,
        intro: view.t("secondFactor.enrol.required"),
        qr: await qrCodeSvg(enrolment.uri, view.t("secondFactor.enrol.qrLabel")),
        secret: enrolment.secret,
        enrolment: enrolment.enrolment,
        error,
        cancelAction: `/interaction/${details.uid}/abort`,
      });
      return reply.code(options.status ?? 200).type("text/html").send(page);
    }
    // Only a passkey reaches phr: an app's code is not offered for it.
    const phr = requestedLevel(deps.provider().issuer, details.params.acr_values) === "phr";
    const page = secondFactorPage(view, { uid: details.uid, csrfToken, client, method: options.method ?? "totp", totp: factors.totp && !phr, passkeyOffer, error });
    return reply.code(options.status ?? 200).type("text/html").send(page);
  }

  /** Counts the post against the sign-in rate limits; a check that says wait when over one. */
  async function limited(request: FastifyRequest, email: string): Promise<Exclude<FactorCheck, { ok: true }> | undefined> {
    const wait = await deps.limitSignIn?.(request.ip, email);
    return wait === undefined ? undefined : { ok: false, reason: "locked", retryAfterSeconds: wait };
  }

  app.get<UidParams & { Querystring: { method?: "totp" | "recovery" } }>(
    "/interaction/:uid/second-factor",
    { schema: { params: UID_PARAMS, querystring: METHOD_QUERY } },
    async (request, reply) => {
      const found = await held(request, reply);
      if ("redirect" in found) return found.redirect;
      return render(request, reply, found.details, found.person, { method: request.query.method });
    },
  );

  const post = (body: object) => ({ schema: { params: UID_PARAMS, body }, preHandler: app.csrfProtection });

  app.post<CodePost>("/interaction/:uid/second-factor/totp", post(totpBody), async (request, reply) => {
    const found = await held(request, reply);
    if ("redirect" in found) return found.redirect;
    const code = request.body.code.replace(/ /g, "");
    const check = (await limited(request, found.person.email)) ?? (await secondFactors.verifyTotp(found.person, code, found.context));
    if (!check.ok) {
      const { status, message } = failure(check, "secondFactor.error.invalidCode");
      return render(request, reply, found.details, found.person, { status, error: message });
    }
    return finishSignIn(request, reply, found.details, found.person.id, ["otp"]);
  });

  app.post<RecoveryPost>("/interaction/:uid/second-factor/recovery", post(recoveryBody), async (request, reply) => {
    const found = await held(request, reply);
    if ("redirect" in found) return found.redirect;
    const check = (await limited(request, found.person.email)) ?? (await secondFactors.useRecoveryCode(found.person, request.body.recovery_code, found.context));
    if (!check.ok) {
      const { status, message } = failure(check, "secondFactor.error.invalidRecovery");
      return render(request, reply, found.details, found.person, { method: "recovery", status, error: message, errorField: "recovery_code" });
    }
    return finishSignIn(request, reply, found.details, found.person.id, ["otp"]);
  });

  // Setting up an app inside the sign-in: the code confirms it, the recovery codes are shown once,
  // and the held sign-in now has both factors; "continue" finishes it.
  // Only a person with no factor at all sets one up here (whoever has just their password must not
  // add one beside theirs): one who has since got an app or a passkey is asked for it instead.
  app.post<EnrolPost>("/interaction/:uid/second-factor/enrol", post(enrolBody), async (request, reply) => {
    const found = await held(request, reply);
    if ("redirect" in found) return found.redirect;
    const factors = await secondFactors.factors(found.person.id);
    if (factors.totp || factors.passkeys) return reply.redirect(secondFactorPath(found.details.uid), 303);
    const code = request.body.code.replace(/ /g, "");
    const { view, client } = await pageFor(request, reply, found.details);
    const { enrolment } = request.body;
    const result = (await limited(request, found.person.email)) ?? (await secondFactors.confirmTotp(found.person, code, { ...found.context, locale: view.locale, enrolment }));
    if (!result.ok) {
      const { status, message } = failure(result, "secondFactor.error.invalidCode");
      return render(request, reply, found.details, found.person, { status, error: message, enrolment });
    }
    const amr = completeMethods([...(found.pending.amr as AuthenticationMethod[]), "otp"]);
    await deps.pending.savePending({ ...found.pending, amr });
    const page = recoveryCodesPage(view, { codes: result.recoveryCodes, continueAction: `${secondFactorPath(found.details.uid)}/continue`, csrfToken: reply.generateCsrf(), client });
    return reply.type("text/html").header("Cache-Control", "no-store").send(page);
  });

  app.post<UidParams>("/interaction/:uid/second-factor/continue", post(csrfOnly), async (request, reply) => {
    const found = await held(request, reply);
    if ("redirect" in found) return found.redirect;
    // Finishes only if what is held meets the policy now; otherwise back to the second-factor page.
    return finishSignIn(request, reply, found.details, found.person.id, []);
  });
}
