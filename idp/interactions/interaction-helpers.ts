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
import { acrOf, completeMethods, levelOf, levelSatisfies, type AuthenticationLevel, type AuthenticationMethod } from "../accounts/authentication-methods.ts";
import { ACR_VALUES_REASON, MFA_POLICY_REASON, requestedLevel } from "../oidc/acr-values.ts";
import type { Client } from "../store/clients.ts";
import type { SecondFactorStore } from "../store/second-factors.ts";
import { IdpError } from "../errors.ts";

export type Details = Awaited<ReturnType<Provider["interactionDetails"]>>;
export type UidParams = { Params: { uid: string } };

/** What finishSignIn needs to apply the MFA policy (accounts/second-factors.ts builds the level). */
export type SecondFactorGate = {
  /** The level this person must reach to sign in to this client, given what it asked for. */
  requiredLevel(userId: string, client: Pick<Client, "requireMfa"> | undefined, requested?: AuthenticationLevel): Promise<AuthenticationLevel>;
  pending: Pick<SecondFactorStore, "findPending" | "savePending" | "deletePending">;
  /** How long a first factor waits for its second. */
  pendingTtlSeconds: number;
  now: () => Date;
};

export type InteractionContext = {
  /** The current provider: it is rebuilt when the signing keys change. */
  provider: () => Provider;
  clients: Pick<ClientStore, "find">;
  views: Views;
  /** The MFA policy; without it every first factor finishes the sign-in. */
  secondFactor?: SecondFactorGate;
  /**
   * The sign-in page loads the passkey script: every page of the login prompt (which may show the
   * sign-in page again, with an error) admits scripts and fetches from the IdP.
   */
  passkeyScript?: boolean;
};

/** Where a sign-in goes for its second factor. */
export const secondFactorPath = (uid: string) => `/interaction/${uid}/second-factor`;

/** The login prompt's reasons that only ask more of the session's own person (step-up), not a new sign-in. */
const STEP_UP_REASONS = new Set([ACR_VALUES_REASON, MFA_POLICY_REASON, "essential_acr", "essential_acrs"]);

/**
 * The session's person and methods when the login prompt only asks for a higher level (acr_values,
 * or the MFA policy of the client or the person):
 * then only the missing factor is asked, of that same person. Undefined for a sign-in from scratch
 * (no session, prompt=login, max_age passed, another subject hinted).
 */
export function stepUpOf(details: Details): { accountId: string; amr: AuthenticationMethod[] } | undefined {
  const session = details.session;
  if (!session?.accountId || details.prompt.name !== "login") return undefined;
  if (!details.prompt.reasons.every((reason) => STEP_UP_REASONS.has(reason))) return undefined;
  return { accountId: session.accountId, amr: ((session as { amr?: string[] }).amr ?? []) as AuthenticationMethod[] };
}

/** Another person tried to finish a sign-in that a first factor (or the session) bound to someone. */
export const otherAccountError = () =>
  new IdpError({ status: 403, code: "access_denied", title: "secondFactor.otherAccount.title", message: { id: "secondFactor.otherAccount.message" }, detail: "a different account tried to finish a pending or step-up sign-in" });

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
      // A consent keeps the login submitted earlier in this authorization: with prompt=login the
      // provider asks for that login again when the consent's result lacks it (an endless loop).
      const mergeWithLastSubmission = "consent" in outcome;
      redirectTo = await deps.provider().interactionResult(request.raw, reply.raw, outcome, { mergeWithLastSubmission });
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
     * here), or holds it for a second factor: the one place the MFA policy is applied. The methods
     * add to those of a first factor held earlier in this interaction, or, in a step-up, to the
     * session's, and only for the same person. The sign-in finishes (session cookie, code) only at
     * the level the policy asks (MFA settings, the client, the person's factors, acr_values); below
     * it, the methods so far are held for this interaction and the browser goes to the second-factor
     * page. The session, and so every token of it, carries the matching amr and acr.
     */
    async finishSignIn(request: FastifyRequest, reply: FastifyReply, details: Details, accountId: string, methods: AuthenticationMethod[]) {
      const gate = deps.secondFactor;
      const issuer = deps.provider().issuer;
      if (!gate) {
        const amr = completeMethods(methods);
        return finish(request, reply, { login: { accountId, amr, acr: acrOf(issuer, levelOf(amr)) } });
      }
      const pending = await gate.pending.findPending(details.uid);
      const stepUp = stepUpOf(details);
      const boundTo = pending?.userId ?? stepUp?.accountId;
      if (boundTo !== undefined && boundTo !== accountId) throw otherAccountError();
      const prior = (pending?.amr ?? stepUp?.amr ?? []) as AuthenticationMethod[];
      const amr = completeMethods([...prior, ...methods]);
      const client = typeof details.params.client_id === "string" ? await clients.find(details.params.client_id) : undefined;
      const wanted = await gate.requiredLevel(accountId, client, requestedLevel(issuer, details.params.acr_values));
      if (levelSatisfies(levelOf(amr), wanted)) {
        if (pending) await gate.pending.deletePending(details.uid);
        return finish(request, reply, { login: { accountId, amr, acr: acrOf(issuer, levelOf(amr)) } });
      }
      const expiresAt = new Date(gate.now().getTime() + gate.pendingTtlSeconds * 1000);
      await gate.pending.savePending({ interactionUid: details.uid, userId: accountId, amr, expiresAt });
      return reply.redirect(secondFactorPath(details.uid), 303);
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
