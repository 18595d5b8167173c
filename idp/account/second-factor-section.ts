// The account page's two-step verification section: set up an authenticator app (QR code and key,
// confirmed by a code, then the recovery codes shown once), remove it, make new recovery codes.
// Each change needs a sign-in within the last five minutes, at the level the person's factors
// give (so a password alone cannot remove the app); the app is not removed where it is the only
// second factor and one is required (MFA=required).
import { TOTP_ENROLMENT_PATTERN, type SecondFactors } from "../accounts/second-factors.ts";
import { formBody } from "../interactions/schemas.ts";
import { html } from "../pages/html.ts";
import { formatMessage } from "../pages/i18n.ts";
import { accountSection } from "../pages/account.ts";
import { buttonForm } from "../pages/layout.ts";
import { qrCodeSvg, recoveryCodesBody, totpEnrolmentBody } from "../pages/second-factor.ts";
import { RECENT_SIGN_IN_SECONDS, type AccountRouteContext, type AccountSection, type SignedInAccount } from "./sections.ts";
import type { FastifyReply, FastifyRequest } from "fastify";

const TOTP_PATH = "/account/totp";
const REMOVE_PATH = "/account/totp/remove";
const RECOVERY_PATH = "/account/recovery-codes";
const CODE_INPUT = { type: "string", pattern: "^ *[0-9]{3} ?[0-9]{3} *$" } as const;

export function secondFactorSection(deps: { secondFactors: SecondFactors; mfaRequired: boolean; hasPasskeys?: (userId: string) => Promise<boolean> }): AccountSection {
  const { secondFactors } = deps;

  /** Signed in within five minutes, with a second factor if the person has one. */
  async function fresh(context: AccountRouteContext, request: FastifyRequest, reply: FastifyReply, returnTo: string): Promise<SignedInAccount | undefined> {
    const account = await context.signedIn(request, reply, { maxAgeSeconds: RECENT_SIGN_IN_SECONDS, returnTo });
    if (!account) return undefined;
    const factors = await secondFactors.factors(account.user.id);
    if ((factors.totp || factors.passkeys) && account.session.level === "1fa") {
      return context.signedIn(request, reply, { maxAgeSeconds: RECENT_SIGN_IN_SECONDS, level: "mfa", returnTo });
    }
    return account;
  }

  const context = (account: SignedInAccount) => ({ ip: undefined as string | undefined, locale: account.view.locale, clientId: undefined });

  return {
    id: "two-step",
    order: 20,
    async render({ view, user, csrfToken }) {
      const { t } = view;
      const factors = await secondFactors.factors(user.id);
      const body = factors.totp
        ? html`<p>${t("account.mfa.on")}</p>
<p>${t("account.mfa.recoveryLeft", { count: factors.recoveryCodesLeft })}</p>
${buttonForm(RECOVERY_PATH, csrfToken, t("account.mfa.regenerate"), "secondary")}
${buttonForm(REMOVE_PATH, csrfToken, t("account.mfa.remove"), "secondary")}`
        : html`<p>${t("account.mfa.off")}</p>
<p><a href="${TOTP_PATH}">${t("account.mfa.setUp")}</a></p>`;
      return accountSection("two-step", t("account.mfa.heading"), body);
    },

    routes(scope, routeContext) {
      /** The set-up page: a new key, or after a wrong code the key this page showed (`continuing`). */
      async function enrolmentPage(reply: FastifyReply, account: SignedInAccount, error?: string, continuing?: string) {
        const { view, user, csrfToken } = account;
        const enrolment = await secondFactors.beginTotp({ id: user.id, email: user.email }, continuing);
        if (!enrolment) return routeContext.backToAccount(reply, { section: "two-step" });
        const body = totpEnrolmentBody(view, {
          action: TOTP_PATH,
          csrfToken,
          qr: await qrCodeSvg(enrolment.uri, view.t("secondFactor.enrol.qrLabel")),
          secret: enrolment.secret,
          enrolment: enrolment.enrolment,
          error: error === undefined ? undefined : { field: "code", message: error },
          backHref: { href: "/account", label: view.t("account.back") },
        });
        return routeContext.sendPage(reply, view, { title: view.t("secondFactor.enrol.title"), body, status: error === undefined ? 200 : 400 });
      }

      scope.get(TOTP_PATH, async (request, reply) => {
        const account = await fresh(routeContext, request, reply, TOTP_PATH);
        if (!account) return reply;
        return enrolmentPage(reply, account);
      });

      scope.post<{ Body: { code: string; enrolment: string; _csrf: string } }>(
        TOTP_PATH,
        { schema: { body: formBody(["code", "enrolment"], { code: CODE_INPUT, enrolment: { type: "string", pattern: TOTP_ENROLMENT_PATTERN } }) }, preHandler: routeContext.csrfProtection },
        async (request, reply) => {
          const account = await fresh(routeContext, request, reply, TOTP_PATH);
          if (!account) return reply;
          const { view, user } = account;
          const result = await secondFactors.confirmTotp({ id: user.id, email: user.email }, request.body.code.replace(/ /g, ""), {
            ...context(account),
            ip: request.ip,
            userAgent: request.headers["user-agent"],
            enrolment: request.body.enrolment,
          });
          if (!result.ok) {
            const message = result.reason === "locked" ? formatMessage(view.t, { id: "login.error.locked", values: { wait: result.retryAfterSeconds } }) : view.t("secondFactor.error.invalidCode");
            return enrolmentPage(reply, account, message, request.body.enrolment);
          }
          reply.header("Cache-Control", "no-store");
          const body = recoveryCodesBody(view, { codes: result.recoveryCodes, continueHref: "/account?notice=totpEnrolled#two-step", csrfToken: account.csrfToken });
          return routeContext.sendPage(reply, view, { title: view.t("secondFactor.recoveryCodes.title"), body });
        },
      );

      scope.post(REMOVE_PATH, { schema: { body: formBody([], {}) }, preHandler: routeContext.csrfProtection }, async (request, reply) => {
        const account = await fresh(routeContext, request, reply, "/account");
        if (!account) return reply;
        const { user } = account;
        // Where a second factor is required, the only one stays (a passkey would do instead).
        if (deps.mfaRequired && !(await deps.hasPasskeys?.(user.id))) return routeContext.backToAccount(reply, { notice: "totpRequired", section: "two-step" });
        await secondFactors.removeTotp({ id: user.id, email: user.email }, { ...context(account), ip: request.ip, userAgent: request.headers["user-agent"] });
        return routeContext.backToAccount(reply, { notice: "totpRemoved", section: "two-step" });
      });

      scope.post(RECOVERY_PATH, { schema: { body: formBody([], {}) }, preHandler: routeContext.csrfProtection }, async (request, reply) => {
        const account = await fresh(routeContext, request, reply, "/account");
        if (!account) return reply;
        const { view, user } = account;
        if (!(await secondFactors.factors(user.id)).totp) return routeContext.backToAccount(reply, { section: "two-step" });
        const codes = await secondFactors.regenerateRecoveryCodes({ id: user.id, email: user.email }, { ...context(account), ip: request.ip, userAgent: request.headers["user-agent"] });
        reply.header("Cache-Control", "no-store");
        const body = recoveryCodesBody(view, { codes, continueHref: "/account#two-step", csrfToken: account.csrfToken });
        return routeContext.sendPage(reply, view, { title: view.t("secondFactor.recoveryCodes.title"), body });
      });
    },
  };
}
