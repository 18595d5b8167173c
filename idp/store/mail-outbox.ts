// SQL for mail_outbox: mails and SMS queued with what they report, claimed by a worker under a
// lease (FOR UPDATE SKIP LOCKED: two instances never claim one row), then marked sent, retried or failed.
import type { Queryable } from "../db/database.ts";

/** How a queued message travels: a mail to an address, or an SMS to an E.164 number. */
export type Channel = "email" | "sms";
export const CHANNELS: readonly Channel[] = ["email", "sms"];

export type NewMail = {
  /** Default "email". For "sms": an sms_* template (idp/sms/templates.ts) and an E.164 recipient. */
  channel?: Channel;
  template: string;
  recipient: string;
  locale: string;
  /** The template's values, sealed (idp/mail/seal.ts). */
  payload: Buffer;
  userId?: string | null;
  /** Not worth sending after this (the link in it has expired). */
  sendBefore?: Date | null;
};

/** A claimed mail: its attempt number counts this one. */
export type ClaimedMail = {
  id: string;
  channel: Channel;
  template: string;
  recipient: string;
  locale: string;
  payload: Buffer | null;
  sendBefore: Date | null;
  attempts: number;
};

type ClaimedRow = {
  id: string;
  channel: Channel;
  template: string;
  recipient: string;
  locale: string;
  payload: Buffer | null;
  send_before: Date | null;
  attempts: number;
};

// Errors from an SMTP server can be long; the row keeps the start.
const MAX_ERROR = 500;

/** The durable queue of mails and SMS: enqueued with what they report, claimed under a lease, then finished. */
export interface MailOutboxStore {
  /** Queues a mail; its id. */
  enqueue(mail: NewMail): Promise<string>;
  /**
   * Claims up to `limit` due messages of the given channels (default: all) for `leaseSeconds` (no
   * other worker gets them meanwhile). A worker claims only what it can send.
   */
  claimDue(limit: number, leaseSeconds: number, channels?: readonly Channel[]): Promise<ClaimedMail[]>;
  markSent(id: string): Promise<void>;
  markRetry(id: string, nextAttemptAt: Date, error: string): Promise<void>;
  markFailed(id: string, error: string): Promise<void>;
  /** Deletes mails sent or given up before the cutoff; how many. */
  deleteFinishedBefore(cutoff: Date): Promise<number>;
}

export function createMailOutboxStore(db: Queryable, now: () => Date = () => new Date()): MailOutboxStore {
  return {
    async enqueue(mail: NewMail): Promise<string> {
      const at = now();
      const { rows } = await db.query<{ id: string }>(
        `INSERT INTO mail_outbox (channel, template, recipient, locale, payload, user_id, created_at, send_before, next_attempt_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7) RETURNING id`,
        [mail.channel ?? "email", mail.template, mail.recipient, mail.locale, mail.payload, mail.userId ?? null, at, mail.sendBefore ?? null],
      );
      return rows[0]!.id;
    },

    /**
     * Claims up to `limit` due mails, oldest due first, and leases them for `leaseSeconds`: their
     * next attempt moves past the lease, so nobody else claims them while this attempt runs, and
     * an instance that dies mid-send leaves them to be retried when the lease ends.
     */
    async claimDue(limit: number, leaseSeconds: number, channels: readonly Channel[] = CHANNELS): Promise<ClaimedMail[]> {
      if (channels.length === 0) return [];
      const at = now();
      const { rows } = await db.query<ClaimedRow>(
        `UPDATE mail_outbox m SET attempts = m.attempts + 1, next_attempt_at = $2
          WHERE m.id IN (
            SELECT id FROM mail_outbox
             WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1 AND channel = ANY($4::text[])
             ORDER BY next_attempt_at, id
             LIMIT $3
             FOR UPDATE SKIP LOCKED)
          RETURNING m.id, m.channel, m.template, m.recipient, m.locale, m.payload, m.send_before, m.attempts`,
        [at, new Date(at.getTime() + leaseSeconds * 1000), limit, channels],
      );
      return rows.map((row) => ({
        id: row.id,
        channel: row.channel,
        template: row.template,
        recipient: row.recipient,
        locale: row.locale,
        payload: row.payload,
        sendBefore: row.send_before,
        attempts: row.attempts,
      }));
    },

    /** Sent: the sealed values go, the row stays as a record until the cleanup. */
    async markSent(id: string): Promise<void> {
      await db.query("UPDATE mail_outbox SET sent_at = $2, payload = NULL, last_error = NULL WHERE id = $1", [id, now()]);
    },

    async markRetry(id: string, nextAttemptAt: Date, error: string): Promise<void> {
      await db.query("UPDATE mail_outbox SET next_attempt_at = $2, last_error = $3 WHERE id = $1", [id, nextAttemptAt, error.slice(0, MAX_ERROR)]);
    },

    /** Given up: the sealed values go too. */
    async markFailed(id: string, error: string): Promise<void> {
      await db.query("UPDATE mail_outbox SET failed_at = $2, payload = NULL, last_error = $3 WHERE id = $1", [id, now(), error.slice(0, MAX_ERROR)]);
    },

    /** Deletes mails sent or given up before the cutoff; how many. */
    async deleteFinishedBefore(cutoff: Date): Promise<number> {
      const { rowCount } = await db.query(
        "DELETE FROM mail_outbox WHERE (sent_at IS NOT NULL OR failed_at IS NOT NULL) AND coalesce(sent_at, failed_at) < $1",
        [cutoff],
      );
      return rowCount ?? 0;
    },
  };
}

