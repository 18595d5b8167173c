// acr_values in an authorization request are honoured: oidc-provider only prompts for essential acr
// claims, so a check added to the login prompt asks for a sign-in again when the session's level is
// below every level the application listed (the interaction then asks only for the missing factor:
// interactions/interaction-helpers.ts). Values that are not ours are ignored, as OIDC Core allows.
// A second check applies the MFA policy to an existing session (single sign-on): a session signed
// in at one factor does not reach a client that requires two, or a person who has since enrolled one.
import { interactionPolicy, type KoaContextWithOIDC } from "oidc-provider";
import { AUTHENTICATION_LEVELS, levelOfAcr, levelSatisfies, type AuthenticationLevel } from "../accounts/authentication-methods.ts";

/** The reason the login prompt gives when acr_values asked for more than the session reached. */
export const ACR_VALUES_REASON = "acr_values_unmet";
/** The reason the login prompt gives when the MFA policy asks more than the session reached. */
export const MFA_POLICY_REASON = "mfa_policy_unmet";

/** The level a sign-in of this person at this client must reach (accounts/second-factors.ts requiredLevel). */
export type SessionLevelPolicy = (accountId: string, clientId: string, requested: AuthenticationLevel | undefined) => Promise<AuthenticationLevel>;

/** The weakest of our levels listed in acr_values (any of them will do), or undefined. */
export function requestedLevel(issuer: string, acrValues: unknown): AuthenticationLevel | undefined {
  if (typeof acrValues !== "string") return undefined;
  const levels = acrValues.split(" ").map((value) => levelOfAcr(issuer, value)).filter((level) => level !== undefined);
  return AUTHENTICATION_LEVELS.find((level) => levels.includes(level));
}

/** The default interaction policy, with the acr_values check (and, given the policy, the MFA check) in its login prompt. */
export function interactionPolicyFor(issuer: string, requiredLevel?: SessionLevelPolicy): interactionPolicy.DefaultPolicy {
  const policy = interactionPolicy.base();
  const check = new interactionPolicy.Check(ACR_VALUES_REASON, "the requested authentication level was not reached", (ctx: KoaContextWithOIDC) => {
    const wanted = requestedLevel(issuer, ctx.oidc.params?.acr_values);
    // No session is no_session's to ask; a login just submitted is judged by the interaction.
    if (!wanted || !ctx.oidc.session?.accountId || ctx.oidc.result?.login) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
    const reached = levelOfAcr(issuer, ctx.oidc.acr) ?? "1fa";
    return levelSatisfies(reached, wanted) ? interactionPolicy.Check.NO_NEED_TO_PROMPT : interactionPolicy.Check.REQUEST_PROMPT;
  });
  policy.get("login")!.checks.add(check);
  if (requiredLevel) {
    const mfa = new interactionPolicy.Check(MFA_POLICY_REASON, "the client or the person requires a second factor", async (ctx: KoaContextWithOIDC) => {
      const accountId = ctx.oidc.session?.accountId;
      const clientId = ctx.oidc.client?.clientId;
      if (!accountId || !clientId || ctx.oidc.result?.login) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      const reached = levelOfAcr(issuer, ctx.oidc.acr) ?? "1fa";
      // The policy asks at most mfa (phr only through acr_values, checked above): no lookup for such a session.
      if (levelSatisfies(reached, "mfa")) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      const wanted = await requiredLevel(accountId, clientId, requestedLevel(issuer, ctx.oidc.params?.acr_values));
      return levelSatisfies(reached, wanted) ? interactionPolicy.Check.NO_NEED_TO_PROMPT : interactionPolicy.Check.REQUEST_PROMPT;
    });
    policy.get("login")!.checks.add(mfa);
  }
  return policy;
}
