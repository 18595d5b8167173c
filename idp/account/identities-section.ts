// The account page's "Sign-in with other providers" section: the upstream identities linked to the
// account (idp/federation/), each with an Unlink button, except the last way to sign in (no password
// and no other identity). Unlinking needs a recent sign-in, like changing any credential.
import type { FederatedSignIn } from "../federation/federated-sign-in.ts";
import { csrfField } from "../pages/layout.ts";
import { html } from "../pages/html.ts";
import { accountSection } from "../pages/account.ts";
import type { UpstreamProvider } from "../store/upstreams.ts";
import { RECENT_SIGN_IN_SECONDS, type AccountSection } from "./sections.ts";

const PATH = "/account/identities/unlink";
type UnlinkBody = { Body: { issuer: string; subject: string; _csrf: string } };
const unlinkBody = {
  type: "object",
  required: ["issuer", "subject", "_csrf"],
  properties: { issuer: { type: "string", maxLength: 2048 }, subject: { type: "string", maxLength: 1024 }, _csrf: { type: "string", maxLength: 256 } },
} as const;

export function identitiesSection(deps: { federation: FederatedSignIn; providers: () => Promise<UpstreamProvider[]> }): AccountSection {
  return {
    id: "identities",
    order: 20,
    async render({ view, user, csrfToken }) {
      const [identities, providers] = await Promise.all([deps.federation.identitiesOf(user.id), deps.providers()]);
      const nameOf = (id: string) => providers.find((provider) => provider.id === id)?.displayName ?? id;
      const last = !user.passwordHash && identities.length === 1;
      const items = identities.map((identity) => {
        const provider = nameOf(identity.providerId);
        return html`<li><span>${view.t("account.identities.item", { provider, email: identity.email ?? identity.subject })}</span>
${last
  ? html`<p class="muted">${view.t("account.identities.last")}</p>`
  : html`<form method="post" action="${PATH}">
${csrfField(csrfToken)}
<input type="hidden" name="issuer" value="${identity.issuer}">
<input type="hidden" name="subject" value="${identity.subject}">
<button type="submit" class="button-secondary" aria-label="${view.t("account.identities.unlinkLabel", { provider })}">${view.t("account.identities.unlink")}</button>
</form>`}</li>`;
      });
      return accountSection(
        "identities",
        view.t("account.identities.heading"),
        identities.length === 0 ? html`<p>${view.t("account.identities.none")}</p>` : html`<ul class="identities">
${items}
</ul>`,
      );
    },

    routes(scope, context) {
      scope.post<UnlinkBody>(PATH, { schema: { body: unlinkBody }, preHandler: context.csrfProtection }, async (request, reply) => {
        const account = await context.signedIn(request, reply, { maxAgeSeconds: RECENT_SIGN_IN_SECONDS, returnTo: "/account" });
        if (!account) return reply;
        const outcome = await deps.federation.unlink(account.user.id, request.body.issuer, request.body.subject, { ip: request.ip, userAgent: request.headers["user-agent"], locale: account.view.locale });
        if (outcome === "unknown") return context.backToAccount(reply, { section: "identities" });
        return context.backToAccount(reply, { section: "identities", notice: outcome === "last" ? "identityLast" : "identityUnlinked" });
      });
    },
  };
}
