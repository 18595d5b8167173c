// One transaction per token request. At the token endpoint oidc-provider consumes a code or refresh
// token and then saves the new tokens in separate adapter calls; if the database went away between
// them, a user would be left with a consumed token and no successor. So, inside a token request,
// the adapter only collects consumes and saves, and they commit together (or not at all) just
// before the response leaves, with the consume still the atomic "exactly one winner" check.
import { AsyncLocalStorage } from "node:async_hooks";
import type { AdapterPayload, KoaContextWithOIDC } from "oidc-provider";

export type PendingWrite =
  | { kind: "consume"; model: string; id: string }
  | { kind: "upsert"; model: string; id: string; payload: AdapterPayload; expiresIn: number };

export class TokenUnitOfWork {
  readonly writes: PendingWrite[] = [];
  private readonly ctx: KoaContextWithOIDC;

  constructor(ctx: KoaContextWithOIDC) {
    this.ctx = ctx;
  }

  /** Writes are collected only once the provider has routed the request to the token endpoint. */
  get collecting(): boolean {
    return this.ctx.oidc?.route === "token";
  }
}

const storage = new AsyncLocalStorage<TokenUnitOfWork>();

export function currentUnitOfWork(): TokenUnitOfWork | undefined {
  const unit = storage.getStore();
  return unit?.collecting ? unit : undefined;
}

export class ConsumeConflictError extends Error {
  override name = "ConsumeConflictError";
}

/**
 * Koa middleware for the provider: runs the request in a unit of work and commits its writes
 * after the provider has built a successful response. `commit` throws ConsumeConflictError when
 * a consumed artefact was already used (a concurrent request won).
 */
export function tokenUnitOfWorkMiddleware(commit: (writes: PendingWrite[]) => Promise<void>) {
  return async (ctx: KoaContextWithOIDC, next: () => Promise<unknown>) => {
    const unit = new TokenUnitOfWork(ctx);
    await storage.run(unit, next);
    if (unit.writes.length === 0) return;
    if (ctx.status >= 400) return; // the provider refused the request: nothing of it is kept
    try {
      await commit(unit.writes);
    } catch (error) {
      if (!(error instanceof ConsumeConflictError)) throw error;
      ctx.status = 400;
      ctx.body = { error: "invalid_grant", error_description: error.message };
    }
  };
}
