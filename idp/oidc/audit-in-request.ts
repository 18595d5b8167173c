// Audit events recorded from oidc-provider's event listeners, which cannot wait: each write started
// while a request is handled is awaited before that request's response leaves, so a caller that saw
// the response finds the event recorded.
import type Provider from "oidc-provider";
import type { KoaContextWithOIDC } from "oidc-provider";
import type { AuditEvent, AuditStore } from "../store/audit.ts";

export type RecordInRequest = (ctx: KoaContextWithOIDC | undefined, event: AuditEvent) => void;

export function auditInRequest(provider: Provider, audit: AuditStore, onError: (error: unknown) => void): RecordInRequest {
  const pending = new WeakMap<object, Promise<void>[]>();

  provider.use(async (ctx: KoaContextWithOIDC, next) => {
    try {
      await next();
    } finally {
      const writes = pending.get(ctx);
      if (writes) await Promise.all(writes);
    }
  });

  return (ctx, event) => {
    const write = audit.record(event).catch(onError);
    if (!ctx) return;
    const writes = pending.get(ctx) ?? [];
    writes.push(write);
    pending.set(ctx, writes);
  };
}
