// One transaction per token request. At the token endpoint oidc-provider consumes a code or refresh
// token and then saves the new tokens in separate adapter calls; if the database went away between
// them, a user would be left with a consumed token and no successor. So, inside a token request,
// the adapter only collects consumes and saves, and they commit together (or not at all) just
// before the response leaves, with the consume still the atomic "exactly one winner" check.
//
// The unit also holds rows read ahead for this one request: finding the code or refresh token
// fetches, in the same query, the grant and session the provider asks for next (see adapter.ts).
import { AsyncLocalStorage } from "node:async_hooks";
import type { AdapterPayload, KoaContextWithOIDC } from "oidc-provider";
import type { FoundPayload, OidcPayloadStore } from "../store/oidc-payloads.ts";
import { IdpError } from "../errors.ts";

export type PendingWrite =
  | { kind: "consume"; model: string; id: string }
  | { kind: "upsert"; model: string; id: string; payload: AdapterPayload; expiresIn: number };

/** How a row is looked up: by id (find) or by uid (findByUid). */
export type Lookup = "id" | "uid";

// Keys never hold NUL: the adapter refuses such ids before any lookup.
const lookupKey = (model: string, lookup: Lookup, value: string) => `${model}\u0000${lookup}\u0000${value}`;

export class TokenUnitOfWork {
  readonly writes: PendingWrite[] = [];
  private readonly ctx: KoaContextWithOIDC;
  private readonly prefetched = new Map<string, FoundPayload | undefined>();

  constructor(ctx: KoaContextWithOIDC) {
    this.ctx = ctx;
  }

  /** Writes are collected only once the provider has routed the request to the token endpoint. */
  get collecting(): boolean {
    return this.ctx.oidc?.route === "token";
  }

  collect(write: PendingWrite): void {
    this.forgetPrefetched();
    this.writes.push(write);
  }

  /** Keeps a row read ahead (undefined: there is no live one) for one later lookup in this request. */
  prefetch(model: string, lookup: Lookup, value: string, found: FoundPayload | undefined): void {
    this.prefetched.set(lookupKey(model, lookup, value), found);
  }

  /** The row read ahead for this lookup, handed out once; undefined when none was read ahead. */
  takePrefetched(model: string, lookup: Lookup, value: string): { found: FoundPayload | undefined } | undefined {
    const key = lookupKey(model, lookup, value);
    if (!this.prefetched.has(key)) return undefined;
    const found = this.prefetched.get(key);
    this.prefetched.delete(key);
    return { found };
  }

  /** Any write in the request may change what was read ahead: later lookups go to the database. */
  forgetPrefetched(): void {
    this.prefetched.clear();
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
      throw new IdpError({ status: 400, code: "invalid_grant", title: "error.invalidRequest.title", message: { id: "error.invalidRequest.message" }, description: error.message });
    }
  };
}

/**
 * The commit of a token request's writes: one statement, all or nothing (oidc-payloads.ts
 * commitWrites); a refused consume means a concurrent request used the code or refresh token first.
 */
export function tokenWriteCommitter(payloads: Pick<OidcPayloadStore, "commitWrites">): (writes: PendingWrite[]) => Promise<void> {
  return async (writes) => {
    const refused = await payloads.commitWrites(writes);
    if (refused) {
      throw new ConsumeConflictError(`${refused.consumeRefused === "RefreshToken" ? "refresh token" : "authorization code"} already used`);
    }
  };
}
