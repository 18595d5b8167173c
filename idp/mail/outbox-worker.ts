// Sends the mail and SMS in the outbox, in the background of every instance: claims due messages
// of the channels it has a way to send under a lease (so instances never send one twice), renders
// each in its language, sends it with a time limit, and on failure retries with a doubling wait
// (30 s up to 30 min) until MAIL_MAX_ATTEMPTS, or until what it carries has expired. A refusal the
// provider calls final (an invalid number) is given up at once. Nothing a request waits for:
// requests only queue.
import { createDrainLoop } from "../outbox/drain-loop.ts";
import type { FastifyBaseLogger } from "fastify";
import type { MailOutboxStore, ClaimedMail, Channel } from "../store/mail-outbox.ts";
import type { Sealer } from "./seal.ts";
import { renderMail, type MailContext } from "./templates.ts";
import type { MailTransport } from "./transports.ts";
import { renderSms } from "../sms/templates.ts";
import { SmsDeliveryError, type SmsSender } from "../sms/senders.ts";

export type MailOutcome = "sent" | "retried" | "failed";

export type OutboxWorkerDeps = {
  outbox: MailOutboxStore;
  /** Sends the email channel; without it, mail is left in the outbox for an instance that has one. */
  transport?: MailTransport;
  /** Sends the SMS channel; likewise. */
  sms?: SmsSender;
  sealer: Sealer;
  /** Brand and public origin, for a mail in a language. */
  context: (locale: string) => MailContext;
  now: () => Date;
  log: Pick<FastifyBaseLogger, "info" | "warn" | "error">;
  maxAttempts: number;
  sendTimeoutSeconds: number;
  pollIntervalMs: number;
  onOutcome?: (outcome: MailOutcome, channel: Channel) => void;
};

/** Mails claimed (and sent side by side) per round. */
const BATCH = 5;
export const FIRST_RETRY_SECONDS = 30;
export const MAX_RETRY_SECONDS = 30 * 60;
/** How long stopping waits for the sends in flight; past it they are left to the lease. */
const STOP_WAIT_MS = 5000;

/** The wait after the n-th failed attempt: 30 s, 60 s, 2 min, ... at most 30 min. */
export function retryDelaySeconds(attempts: number): number {
  return Math.min(FIRST_RETRY_SECONDS * 2 ** Math.min(Math.max(attempts - 1, 0), 20), MAX_RETRY_SECONDS);
}

class SendTimeout extends Error {
  override name = "SendTimeout";
}

export function createOutboxWorker(deps: OutboxWorkerDeps) {
  const { outbox, transport, sealer, now, log, maxAttempts } = deps;
  const channels: Channel[] = [...(transport ? (["email"] as const) : []), ...(deps.sms ? (["sms"] as const) : [])];
  // Each send gets three times the per-step limit overall; the lease outlasts that, so a mail is
  // never claimed again while its attempt may still be running.
  const deadlineMs = deps.sendTimeoutSeconds * 3000;
  const leaseSeconds = deps.sendTimeoutSeconds * 4 + 10;
  function withDeadline(sending: Promise<void>): Promise<void> {
    let deadline: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      deadline = setTimeout(() => reject(new SendTimeout(`no answer from the mail server or SMS provider within ${deadlineMs} ms`)), deadlineMs);
    });
    return Promise.race([sending, timeout]).finally(() => clearTimeout(deadline));
  }

  // Log lines name the message by its outbox id, never its recipient or contents.
  const what = (mail: ClaimedMail) => (mail.channel === "sms" ? "SMS" : "mail");
  const fields = (mail: ClaimedMail) => ({ mailId: mail.id, channel: mail.channel, template: mail.template, attempts: mail.attempts });

  async function giveUp(mail: ClaimedMail, reason: string): Promise<void> {
    await outbox.markFailed(mail.id, reason);
    deps.onOutcome?.("failed", mail.channel);
    log.error({ ...fields(mail), reason }, `${what(mail)} given up`);
  }

  /** Renders a claimed message and starts sending it through its channel; throws when it cannot be rendered. */
  function send(mail: ClaimedMail, values: Record<string, unknown>): Promise<void> {
    const context = deps.context(mail.locale);
    if (mail.channel === "sms") return deps.sms!.send({ to: mail.recipient, body: renderSms(mail.template, values, context), id: mail.id });
    return transport!.send({ to: mail.recipient, ...renderMail(mail.template, values, context) });
  }

  async function deliver(mail: ClaimedMail): Promise<void> {
    if (mail.sendBefore && mail.sendBefore.getTime() <= now().getTime()) return giveUp(mail, "what it carries expired before it could be sent");
    const values = mail.payload ? sealer.open(mail.payload) : undefined;
    if (!values) return giveUp(mail, "its contents cannot be opened with the current cookie keys");
    let sending: Promise<void>;
    try {
      sending = send(mail, values);
    } catch (error) {
      return giveUp(mail, (error as Error).message);
    }
    try {
      await withDeadline(sending);
    } catch (error) {
      const reason = String((error as Error)?.message ?? error);
      if (mail.attempts >= maxAttempts || (error instanceof SmsDeliveryError && error.permanent)) return giveUp(mail, reason);
      const next = new Date(now().getTime() + retryDelaySeconds(mail.attempts) * 1000);
      await outbox.markRetry(mail.id, next, reason);
      deps.onOutcome?.("retried", mail.channel);
      log.warn({ ...fields(mail), nextAttemptAt: next.toISOString(), reason }, `${what(mail)} not sent; will retry`);
      return;
    }
    await outbox.markSent(mail.id);
    deps.onOutcome?.("sent", mail.channel);
    log.info(fields(mail), `${what(mail)} sent`);
  }

  const loop = createDrainLoop<ClaimedMail>(
    {
      claim: () => outbox.claimDue(BATCH, leaseSeconds, channels),
      handle: deliver,
      // A full batch: more may be due.
      again: (claimed) => claimed.length === BATCH,
      onClaimError: (error) => log.warn({ err: error }, "mail outbox not read"),
      onHandleError: (error) => log.warn({ err: error }, "mail outbox not updated"),
    },
    { pollIntervalMs: deps.pollIntervalMs, stopWaitMs: Math.min(STOP_WAIT_MS, deadlineMs) },
  );

  return {
    start: loop.start,
    /** Something was queued: send it now rather than at the next poll. */
    wake: loop.wake,
    /** Stops polling, waits (a bounded time) for the sends in flight, and closes the transport. */
    async stop(): Promise<void> {
      await loop.stop();
      transport?.close();
    },
  };
}

export type OutboxWorker = ReturnType<typeof createOutboxWorker>;
