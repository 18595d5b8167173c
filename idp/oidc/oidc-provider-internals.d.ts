// Types for the one module of oidc-provider's internals the IdP imports (it ships no types for them):
// the steps of POST /session/end/confirm, reused by logout-without-prompt.ts.
declare module "oidc-provider/lib/actions/end_session.js" {
  import type { KoaContextWithOIDC } from "oidc-provider";

  type Step = (ctx: KoaContextWithOIDC, next: () => Promise<void>) => Promise<void> | void;
  export const confirm: Step[];
}
