// The operator's webhook endpoints (`idp webhooks add|list|remove|test`): input validated here, each
// change written with its audit event in one transaction. A new endpoint's secret is made here,
// shown once, and stored sealed: it must be opened again to sign, so it cannot be hashed.
import type { Database, Queryable } from "../db/database.ts";
import { InvalidInputError } from "../accounts/operator.ts";
import { LOOPBACK_NAMES } from "../http/authority.ts";
import type { Sealer } from "../mail/seal.ts";
import type { AuditStore } from "../store/audit.ts";
import { newEndpointId, newMessageId, type WebhookEndpoint, type WebhookStore } from "../store/webhooks.ts";
import { TEST_EVENT_TYPE, WEBHOOK_EVENT_TYPES, isWebhookEventType } from "./events.ts";
import { newWebhookSecret, postWebhook } from "./sender.ts";

/** The HKDF info that makes the webhook secrets' sealing key differ from the mail's (same cookie keys). */
export const WEBHOOK_SECRET_INFO = "convex-idp webhook secrets v1";

export const WEBHOOK_URL_MAX_LENGTH = 2048;

/**
 * Where events are posted: an absolute https URL; http only for a loopback address or a one-word
 * host name (a docker compose service such as http://convex:3211), where the traffic stays on the
 * machine or its private network. No user name or password in it.
 */
export function validateWebhookUrl(given: string): string {
  let url: URL;
  try {
    url = new URL(given.trim());
  } catch {
    throw new InvalidInputError(`"${given}" is not an absolute URL`);
  }
  if (url.username || url.password) throw new InvalidInputError("a webhook URL must not contain a user name or password");
  const internal = LOOPBACK_NAMES.includes(url.hostname) || /^[a-z0-9-]+$/i.test(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && internal)) {
    throw new InvalidInputError(`webhook URL "${given}" must use https (http is allowed for localhost and one-word internal host names)`);
  }
  if (url.hash) throw new InvalidInputError("a webhook URL must not contain a fragment");
  if (url.href.length > WEBHOOK_URL_MAX_LENGTH) throw new InvalidInputError(`a webhook URL must be at most ${WEBHOOK_URL_MAX_LENGTH} characters`);
  return url.href;
}

/** The event types an endpoint takes: all (null) when none are named; each must be known. */
export function validateEventTypes(given: string[] | undefined): string[] | null {
  const types = [...new Set((given ?? []).flatMap((entry) => entry.split(",")).map((type) => type.trim()).filter(Boolean))];
  if (types.length === 0) return null;
  const unknown = types.filter((type) => !isWebhookEventType(type));
  if (unknown.length > 0) throw new InvalidInputError(`unknown event type ${unknown.join(", ")}: choose from ${WEBHOOK_EVENT_TYPES.join(", ")}`);
  return types;
}

export type WebhookEndpointsDeps = {
  db: Database;
  stores: (queryable: Queryable) => { webhooks: WebhookStore; audit: AuditStore };
  /** Seals and opens endpoint secrets (createSealer(cookieKeys, WEBHOOK_SECRET_INFO)); asked for only when one is needed. */
  sealer: () => Promise<Sealer>;
  now: () => Date;
  timeoutSeconds: number;
  actor?: string;
  actorDetails?: Record<string, string>;
};

export function createWebhookEndpoints(deps: WebhookEndpointsDeps) {
  const { db, stores } = deps;
  const actor = deps.actor ?? "cli";
  const details = (more: Record<string, string>) => ({ ...deps.actorDetails, ...more });

  return {
    /** Adds an endpoint; the secret is returned this once and never shown again. */
    async add(input: { url: string; events?: string[] }): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
      const url = validateWebhookUrl(input.url);
      const events = validateEventTypes(input.events);
      const secret = newWebhookSecret();
      const sealed = (await deps.sealer()).seal({ secret });
      const endpoint = await db.transaction(async (tx) => {
        const { webhooks, audit } = stores(tx);
        const added = await webhooks.addEndpoint({ id: newEndpointId(), url, events, secret: sealed });
        // The origin only: a path or query may carry a token of the receiver's.
        await audit.record({ event: "webhook.added", actor, details: details({ endpoint: added.id, origin: new URL(url).origin, events: events?.join(",") ?? "*" }) });
        return added;
      });
      return { endpoint, secret };
    },

    list: () => stores(db).webhooks.listEndpoints(),

    /** Removes an endpoint and its undelivered events. */
    async remove(id: string): Promise<void> {
      await db.transaction(async (tx) => {
        const { webhooks, audit } = stores(tx);
        if (!(await webhooks.removeEndpoint(id))) throw new InvalidInputError(`no webhook endpoint ${id}`);
        await audit.record({ event: "webhook.removed", actor, details: details({ endpoint: id }) });
      });
    },

    /**
     * Posts a signed webhook.test message to the endpoint now, from this process, and returns the
     * receiver's status; throws WebhookDeliveryError when it is not taken. Nothing is queued.
     */
    async test(id: string): Promise<{ messageId: string; status: number }> {
      const found = await stores(db).webhooks.endpointSecret(id);
      if (!found) throw new InvalidInputError(`no webhook endpoint ${id}`);
      const secret = (await deps.sealer()).open(found.secret)?.secret;
      if (typeof secret !== "string") throw new Error("the endpoint's secret cannot be opened with these cookie keys: run this with the server's KEYS_DIR");
      const messageId = newMessageId();
      const body = JSON.stringify({ type: TEST_EVENT_TYPE, timestamp: deps.now().toISOString(), data: { endpoint: id } });
      const status = await postWebhook({ url: found.url, secret, messageId, body }, { now: deps.now, timeoutSeconds: deps.timeoutSeconds });
      return { messageId, status };
    },
  };
}

export type WebhookEndpoints = ReturnType<typeof createWebhookEndpoints>;
