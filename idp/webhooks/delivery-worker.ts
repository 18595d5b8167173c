// Delivers the webhook outbox, in the background of every instance: claims due deliveries under a
// lease (so instances never post one at once), never one behind an older undelivered event of the
// same user and endpoint (so each endpoint sees a user's events in order), signs and posts each with
// a time limit, and on failure retries with a doubling wait (5 s up to WEBHOOK_MAX_BACKOFF) until
// the event is older than WEBHOOK_MAX_AGE. At least once: a receiver deduplicates by webhook-id.
import type { FastifyBaseLogger } from "fastify";
import type { Sealer } from "../mail/seal.ts";
import type { ClaimedDelivery, WebhookStore } from "../store/webhooks.ts";
import { createDrainLoop } from "../outbox/drain-loop.ts";
import { postWebhook } from "./sender.ts";

export type WebhookOutcome = "delivered" | "retried" | "failed";

export type DeliveryWorkerDeps = {
  webhooks: WebhookStore;
  /** Opens the endpoints' secrets (webhookSecretSealer). */
  sealer: Sealer;
  now: () => Date;
  log: Pick<FastifyBaseLogger, "info" | "warn" | "error">;
  timeoutSeconds: number;
  maxBackoffSeconds: number;
  maxAgeSeconds: number;
  pollIntervalMs: number;
  onOutcome?: (outcome: WebhookOutcome) => void;
};

/** Deliveries claimed (and posted side by side) per round. */
const BATCH = 10;
export const FIRST_RETRY_SECONDS = 5;
/** How long stopping waits for the posts in flight; past it they are left to the lease. */
const STOP_WAIT_MS = 5000;

/** The wait after the n-th failed attempt: 5 s, 10 s, 20 s, ... at most maxBackoff. */
export function webhookRetryDelaySeconds(attempts: number, maxBackoffSeconds: number): number {
  return Math.min(FIRST_RETRY_SECONDS * 2 ** Math.min(Math.max(attempts - 1, 0), 20), maxBackoffSeconds);
}

export function createDeliveryWorker(deps: DeliveryWorkerDeps) {
  const { webhooks, sealer, now, log } = deps;
  // The lease outlasts the post's time limit, so a delivery is never claimed again while its post may still run.
  const leaseSeconds = deps.timeoutSeconds * 2 + 10;
  // Log lines name the delivery by ids and type, never its body (it names a person) or the secret.
  const fields = (delivery: ClaimedDelivery) => ({
    deliveryId: delivery.id,
    endpointId: delivery.endpointId,
    webhookId: delivery.messageId,
    type: delivery.eventType,
    attempts: delivery.attempts,
  });

  async function deliver(delivery: ClaimedDelivery): Promise<void> {
    const secret = sealer.open(delivery.secret)?.secret;
    try {
      if (typeof secret !== "string") throw new Error("the endpoint's secret cannot be opened with the current cookie keys");
      await postWebhook({ url: delivery.url, secret, messageId: delivery.messageId, body: delivery.body }, { now, timeoutSeconds: deps.timeoutSeconds });
    } catch (error) {
      const reason = String((error as Error)?.message ?? error);
      const age = (now().getTime() - delivery.createdAt.getTime()) / 1000;
      if (age >= deps.maxAgeSeconds) {
        await webhooks.markFailed(delivery.id, reason);
        deps.onOutcome?.("failed");
        log.error({ ...fields(delivery), reason }, "webhook given up");
        return;
      }
      const next = new Date(now().getTime() + webhookRetryDelaySeconds(delivery.attempts, deps.maxBackoffSeconds) * 1000);
      await webhooks.markRetry(delivery.id, next, reason);
      deps.onOutcome?.("retried");
      log.warn({ ...fields(delivery), nextAttemptAt: next.toISOString(), reason }, "webhook not delivered; will retry");
      return;
    }
    await webhooks.markDelivered(delivery.id);
    deps.onOutcome?.("delivered");
    log.info(fields(delivery), "webhook delivered");
  }

  return createDrainLoop<ClaimedDelivery>(
    {
      claim: () => webhooks.claimDue(BATCH, leaseSeconds),
      handle: deliver,
      // A delivered event may have unblocked the next of its user: look again at once.
      again: (claimed) => claimed.length > 0,
      onClaimError: (error) => log.warn({ err: error }, "webhook outbox not read"),
      onHandleError: (error) => log.warn({ err: error }, "webhook outbox not updated"),
    },
    { pollIntervalMs: deps.pollIntervalMs, stopWaitMs: STOP_WAIT_MS },
  );
}

export type DeliveryWorker = ReturnType<typeof createDeliveryWorker>;
