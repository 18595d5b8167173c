// SQL for webhooks: the endpoints `idp webhooks` manages, and the deliveries queued with the change
// each reports (one row per matching endpoint), claimed by a worker under a lease, oldest first per
// user and endpoint, then marked delivered, retried or failed.
import { randomBytes } from "node:crypto";
import type { Queryable } from "../db/database.ts";

export type WebhookEndpoint = {
  id: string;
  url: string;
  /** The event types it receives; null: every type. */
  events: string[] | null;
  createdAt: Date;
  /** Deliveries neither done nor given up. */
  pending: number;
};

/** An event to report: posted as { type, timestamp, data } with a fresh message id. */
export type WebhookEvent = {
  type: string;
  /** Whom it is about: a user's events reach each endpoint in order. Null: no order (a test message). */
  userId: string | null;
  data: Record<string, unknown>;
};

/** A claimed delivery, with what it takes to post it; its attempt number counts this one. */
export type ClaimedDelivery = {
  id: string;
  endpointId: string;
  url: string;
  /** The endpoint's sealed secret. */
  secret: Buffer;
  messageId: string;
  eventType: string;
  body: string;
  createdAt: Date;
  attempts: number;
};

type EndpointRow = { id: string; url: string; events: string[] | null; created_at: Date; pending: string };
type ClaimedRow = {
  id: string;
  endpoint_id: string;
  url: string;
  secret: Buffer;
  message_id: string;
  event_type: string;
  body: string;
  created_at: Date;
  attempts: number;
};

// A receiver's error page can be long; the row keeps the start.
const MAX_ERROR = 500;

/** A message id as Standard Webhooks shows them: a prefix and 128 random bits, the same for every attempt. */
export const newMessageId = () => `msg_${randomBytes(16).toString("base64url")}`;
export const newEndpointId = () => `ep_${randomBytes(9).toString("base64url")}`;

/** The webhook tables' contract: endpoints for the operator, deliveries for the flows and the worker. */
export interface WebhookStore {
  addEndpoint(endpoint: { id: string; url: string; events: string[] | null; secret: Buffer }): Promise<WebhookEndpoint>;
  /** Every endpoint, oldest first. */
  listEndpoints(): Promise<WebhookEndpoint[]>;
  /** The endpoint's sealed secret, or undefined for an unknown id. */
  endpointSecret(id: string): Promise<{ url: string; secret: Buffer } | undefined>;
  /** Removes an endpoint and its queued deliveries; whether it existed. */
  removeEndpoint(id: string): Promise<boolean>;
  /**
   * Queues the event for every endpoint that takes its type, in the caller's transaction; the
   * message id (the same for every endpoint), or undefined when no endpoint takes it.
   */
  enqueue(event: WebhookEvent): Promise<string | undefined>;
  /** Claims up to `limit` due deliveries for `leaseSeconds`, never one behind an undelivered older one of its user and endpoint. */
  claimDue(limit: number, leaseSeconds: number): Promise<ClaimedDelivery[]>;
  markDelivered(id: string): Promise<void>;
  markRetry(id: string, nextAttemptAt: Date, error: string): Promise<void>;
  markFailed(id: string, error: string): Promise<void>;
  /** Deletes deliveries done or given up before the cutoff; how many. */
  deleteFinishedBefore(cutoff: Date): Promise<number>;
}

export function createWebhookStore(db: Queryable, now: () => Date = () => new Date()): WebhookStore {
  const toEndpoint = (row: EndpointRow): WebhookEndpoint => ({
    id: row.id,
    url: row.url,
    events: row.events,
    createdAt: row.created_at,
    pending: Number(row.pending),
  });

  return {
    async addEndpoint(endpoint) {
      const { rows } = await db.query<EndpointRow>(
        `INSERT INTO webhook_endpoints (id, url, events, secret, created_at) VALUES ($1, $2, $3, $4, $5)
         RETURNING id, url, events, created_at, 0 AS pending`,
        [endpoint.id, endpoint.url, endpoint.events, endpoint.secret, now()],
      );
      return toEndpoint(rows[0]!);
    },

    async listEndpoints() {
      const { rows } = await db.query<EndpointRow>(
        `SELECT e.id, e.url, e.events, e.created_at,
                (SELECT count(*) FROM webhook_deliveries d WHERE d.endpoint_id = e.id AND d.delivered_at IS NULL AND d.failed_at IS NULL) AS pending
           FROM webhook_endpoints e ORDER BY e.created_at, e.id`,
      );
      return rows.map(toEndpoint);
    },

    async endpointSecret(id) {
      const { rows } = await db.query<{ url: string; secret: Buffer }>("SELECT url, secret FROM webhook_endpoints WHERE id = $1", [id]);
      return rows[0];
    },

    async removeEndpoint(id) {
      const { rowCount } = await db.query("DELETE FROM webhook_endpoints WHERE id = $1", [id]);
      return (rowCount ?? 0) > 0;
    },

    async enqueue(event) {
      const at = now();
      const messageId = newMessageId();
      const body = JSON.stringify({ type: event.type, timestamp: at.toISOString(), data: event.data });
      // One statement: no endpoint, no row; the body is the same bytes for every endpoint and attempt.
      const { rowCount } = await db.query(
        `INSERT INTO webhook_deliveries (endpoint_id, message_id, event_type, user_id, body, created_at, next_attempt_at)
         SELECT id, $1, $2, $3, $4, $5, $5 FROM webhook_endpoints WHERE events IS NULL OR $2 = ANY(events)`,
        [messageId, event.type, event.userId, body, at],
      );
      return rowCount ? messageId : undefined;
    },

    /**
     * Oldest due first. A delivery whose user has an older one undelivered at the same endpoint
     * (retrying, or leased to another worker) waits: that keeps each user's events in order, and
     * since the older row stays undelivered until its post succeeded, two workers cannot overtake
     * each other. The lease moves the next attempt past the post's time limit, so an instance that
     * dies mid-post leaves the row to be retried when the lease ends.
     */
    async claimDue(limit, leaseSeconds) {
      const at = now();
      const { rows } = await db.query<ClaimedRow>(
        `UPDATE webhook_deliveries d SET attempts = d.attempts + 1, next_attempt_at = $2
           FROM webhook_endpoints e
          WHERE e.id = d.endpoint_id AND d.id IN (
            SELECT w.id FROM webhook_deliveries w
             WHERE w.delivered_at IS NULL AND w.failed_at IS NULL AND w.next_attempt_at <= $1
               AND NOT EXISTS (
                 SELECT 1 FROM webhook_deliveries older
                  WHERE older.endpoint_id = w.endpoint_id AND older.user_id = w.user_id AND older.id < w.id
                    AND older.delivered_at IS NULL AND older.failed_at IS NULL)
             ORDER BY w.next_attempt_at, w.id
             LIMIT $3
             FOR UPDATE OF w SKIP LOCKED)
          RETURNING d.id, d.endpoint_id, e.url, e.secret, d.message_id, d.event_type, d.body, d.created_at, d.attempts`,
        [at, new Date(at.getTime() + leaseSeconds * 1000), limit],
      );
      return rows.map((row) => ({
        id: row.id,
        endpointId: row.endpoint_id,
        url: row.url,
        secret: row.secret,
        messageId: row.message_id,
        eventType: row.event_type,
        body: row.body,
        createdAt: row.created_at,
        attempts: row.attempts,
      }));
    },

    /** Delivered: the body goes (it names a person), the row stays as a record until the cleanup. */
    async markDelivered(id) {
      await db.query("UPDATE webhook_deliveries SET delivered_at = $2, body = NULL, last_error = NULL WHERE id = $1", [id, now()]);
    },

    async markRetry(id, nextAttemptAt, error) {
      await db.query("UPDATE webhook_deliveries SET next_attempt_at = $2, last_error = $3 WHERE id = $1", [id, nextAttemptAt, error.slice(0, MAX_ERROR)]);
    },

    async markFailed(id, error) {
      await db.query("UPDATE webhook_deliveries SET failed_at = $2, body = NULL, last_error = $3 WHERE id = $1", [id, now(), error.slice(0, MAX_ERROR)]);
    },

    async deleteFinishedBefore(cutoff) {
      const { rowCount } = await db.query(
        "DELETE FROM webhook_deliveries WHERE (delivered_at IS NOT NULL OR failed_at IS NOT NULL) AND coalesce(delivered_at, failed_at) < $1",
        [cutoff],
      );
      return rowCount ?? 0;
    },
  };
}
