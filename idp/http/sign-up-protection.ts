// The sign-up guard built from the settings, the one call the composition root makes: the
// disposable-domain list with SIGN_UP_BLOCKED_DOMAINS, the form-age window and, with
// SIGN_UP_PROOF_OF_WORK, the proof of work with its widget files and challenge route.
import type { FastifyInstance } from "fastify";
import type { Config } from "../config.ts";
import { loadDisposableDomains, parseBlockedDomains } from "../abuse/disposable-domains.ts";
import { createProofOfWork, type ProofOfWorkDifficulty } from "../abuse/proof-of-work.ts";
import { createSignUpGuard, type SignUpGuard } from "../abuse/sign-up-guard.ts";
import type { RateLimitStore } from "../store/rate-limits.ts";
import { loadProofOfWorkWidget, proofOfWorkRoutes } from "./proof-of-work-widget.ts";

export type SignUpProtectionDeps = {
  config: Pick<Config, "signUpMinFormSeconds" | "signUpMaxFormSeconds" | "signUpProofOfWork" | "signUpBlockedDomains">;
  /** keys.cookieKeys: stamps and challenges are signed with keys derived from them. */
  cookieKeys: string[];
  /** The shared counters, where used proof-of-work solutions are remembered. */
  store: RateLimitStore;
  now: () => Date;
  /** Tests may lower the work; the default is DEFAULT_DIFFICULTY. */
  difficulty?: ProofOfWorkDifficulty;
};

export type SignUpProtection = {
  guard: SignUpGuard;
  /** Registers the widget's script, its worker and GET /sign-up/challenge (nothing when proof of work is off). */
  routes(app: FastifyInstance): void;
};

export async function createSignUpProtection(deps: SignUpProtectionDeps): Promise<SignUpProtection> {
  const { config, cookieKeys, store, now } = deps;
  const widget = config.signUpProofOfWork ? await loadProofOfWorkWidget() : undefined;
  const guard = createSignUpGuard({
    cookieKeys,
    now,
    minFormAgeSeconds: config.signUpMinFormSeconds,
    maxFormAgeSeconds: config.signUpMaxFormSeconds,
    disposableDomains: await loadDisposableDomains(parseBlockedDomains(config.signUpBlockedDomains)),
    proofOfWork: widget && {
      // A challenge lasts as long as the form it is solved for.
      verifier: createProofOfWork({ cookieKeys, store, now, ttlSeconds: config.signUpMaxFormSeconds, difficulty: deps.difficulty }),
      widget,
    },
  });
  return {
    guard,
    routes(app) {
      if (widget) proofOfWorkRoutes(app, { widget, guard });
    },
  };
}
