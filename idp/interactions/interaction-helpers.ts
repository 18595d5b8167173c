// What every interaction route needs: the interaction this browser is in, the page's view and
// client, and finishing the interaction (back to the provider). Shared by the sign-in, code and
// sign-up routes.
import type { FastifyReply, FastifyRequest } from "fastify";
import type Provider from "oidc-provider";
import { errors, type InteractionResults } from "oidc-provider";
import type { ClientStore } from "../store/clients.ts";
import { idpErrors } from "../errors.ts";
import type { ClientBrand, View, Views } from "../pages/layout.ts";
import { setPagePolicy, type PolicyOptions } from "../http/security-headers.ts";
import { acrOf, completeMethods, levelOf, type AuthenticationMethod } from "../accounts/authentication-methods.ts";

export type Details = Awaited<ReturnType<Provider["interactionDetails"]>>;
export type UidParams = { Params: { uid: string } };

export type InteractionContext = {
  /** The current provider: it is rebuilt when the signing keys change. */
  provider: () => Provider;
  clients: Pick<ClientStore, "find">;
  views: Views;
  /**
   * The sign-in page loads the passkey script: every page of the login prompt (which may show the
   * sign-in page again, with an error) admits scripts and fetches from the IdP.
   */
  passkeyScript?: boolean;
};

export function interactionHelpers(deps: InteractionContext) {
  const { clients, views } = deps;

  /** The application as the pages show it: its display name (or id) and logo. */
  async function clientBrand(view: View, clientId: unknown): Promise<ClientBrand> {
    const client = typeof clientId === "string" ? await clients.find(clientId) : undefined;
    return { name: client?.name ?? client?.id ?? view.t("layout.theApplication"), logoUri: client?.logoUri };
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

  return {
    clientBrand,
    finish,

    /**
     * Finishes the login prompt for a person who proved `methods` (every way of signing in ends
     * here): the session, and so every token of it, carries the matching amr and acr.
     */
    async finishSignIn(request: FastifyRequest, reply: FastifyReply, _details: Details, accountId: string, methods: AuthenticationMethod[]) {
      const amr = completeMethods(methods);
      return finish(request, reply, { login: { accountId, amr, acr: acrOf(deps.provider().issuer, levelOf(amr)) } });
    },

    /** The interaction's view (its ui_locales, then Accept-Language) and the client it is for. */
    async pageFor(request: FastifyRequest, reply: FastifyReply, details: Details, policy: Partial<PolicyOptions> = {}): Promise<{ view: View; client: ClientBrand }> {
      const view = views.forRequest({ uiLocales: details.params.ui_locales, acceptLanguage: request.headers["accept-language"] });
      const client = await clientBrand(view, details.params.client_id);
      // This page's forms end in a redirect to the client (validated by the provider), and it shows the logos.
      const passkeyScript = deps.passkeyScript === true && details.prompt.name === "login";
      setPagePolicy(reply, { ...(passkeyScript && { passkeyScript }), ...policy, formTargets: [details.params.redirect_uri], imageSources: [views.brand.logoUrl, client.logoUri] });
      return { view, client };
    },

    /**
     * The policy of a page outside the interaction's URL whose form carries it on (the mailed link's,
     * found by the link's own uid): like pageFor's, its form ends in a redirect to the client, which
     * Chromium checks against form-action. An interaction that has expired admits no client.
     */
    async continuingPagePolicy(reply: FastifyReply, uid: string): Promise<void> {
      const interaction = await deps.provider().Interaction.find(uid);
      setPagePolicy(reply, { formTargets: [interaction?.params.redirect_uri], imageSources: [views.brand.logoUrl] });
    },

    /** Loads the interaction this browser is in; the expired page when there is none. */
    async loadDetails(request: FastifyRequest<UidParams>, reply: FastifyReply): Promise<Details> {
      try {
        const details = await deps.provider().interactionDetails(request.raw, reply.raw);
        if (details.uid === request.params.uid) return details;
      } catch (error) {
        if (!(error instanceof errors.SessionNotFound)) throw error;
      }
      throw idpErrors.interactionExpired("no interaction with this uid for this browser");
    },
  };
}

export type InteractionHelpers = ReturnType<typeof interactionHelpers>;
