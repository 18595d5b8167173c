// Tells a person that a way they sign in changed (a second factor set up or removed, new recovery
// codes, a passkey added or removed, an operator's reset): the audit event and a "your sign-in
// methods changed" mail, written with the change in the caller's transaction, so neither the change
// nor its notice can happen alone. Without a mail transport only the audit event is written.
import type { AuditEventName, AuditStore } from "../store/audit.ts";
import type { MailOutboxStore } from "../store/mail-outbox.ts";
import type { Sealer } from "../mail/seal.ts";
import type { SecurityChange } from "../mail/templates.ts";

export type { SecurityChange };

/** The stores a notice writes: those of the caller's transaction. */
export type SecurityNoticeStores = { audit: AuditStore; outbox: Pick<MailOutboxStore, "enqueue"> };

export type SecurityNoticeDeps = {
  /** Seals the mail's values; undefined when no mail can be sent (then nothing is queued). */
  sealer: Sealer | undefined;
  /** The language of a mail whose caller knows none (an operator's reset). */
  defaultLocale: string;
  now?: () => Date;
};

export type SecurityNotice = {
  /** The person whose sign-in methods changed. */
  user: { id: string; email: string };
  change: SecurityChange;
  event: AuditEventName;
  /** Who made the change: `user:<id>`, `operator:cli`, ... */
  actor: string;
  ip?: string | null;
  userAgent?: string | null;
  clientId?: string | null;
  /** The page's language, for the mail. */
  locale?: string;
  details?: Record<string, string | number | boolean | null>;
};

export function createSecurityNotices(deps: SecurityNoticeDeps) {
  const now = deps.now ?? (() => new Date());
  return {
    /** Records the change and queues its mail through `stores` (the change's transaction); true when a mail was queued. */
    async record(stores: SecurityNoticeStores, notice: SecurityNotice): Promise<boolean> {
      await stores.audit.record({
        event: notice.event,
        actor: notice.actor,
        userId: notice.user.id,
        email: notice.user.email,
        clientId: notice.clientId ?? null,
        ip: notice.ip ?? null,
        userAgent: notice.userAgent ?? null,
        details: { ...notice.details, change: notice.change },
      });
      if (!deps.sealer) return false;
      await stores.outbox.enqueue({
        template: "security_notice",
        recipient: notice.user.email,
        locale: notice.locale ?? deps.defaultLocale,
        payload: deps.sealer.seal({ change: notice.change, changedAt: now().toISOString() }),
        userId: notice.user.id,
      });
      return true;
    },
  };
}

export type SecurityNotices = ReturnType<typeof createSecurityNotices>;
