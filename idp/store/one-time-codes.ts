// SQL for one_time_codes: sign-in codes (by mail or SMS), the magic link in the same mail, and
// sign-up's email codes. Every secret is stored as an HMAC (idp/accounts/code-secrets.ts); each
// check is one statement that counts the attempt and uses the code, so exactly one request can
// use it and a sixth attempt finds nothing.
import type { Queryable } from "../db/database.ts";
import type { AuditEventName } from "./audit.ts";

/** Attempts per code, whichever way they come (a typed code, or a confirmation from another browser). */
export const MAX_CODE_ATTEMPTS = 5;

export type CodePurpose = "sign_in_email" | "sign_in_sms" | "sign_up";

/** The HMACs a secret may have: one per cookie key, the first being the current one. */
export type Macs = Buffer[];

/** A request for a code: everything decided before the database is asked. */
export type CodeRequest = {
  purpose: CodePurpose;
  /** Lower-cased email or E.164 number. */
  identifier: string;
  /** False during the resend cooldown: nothing is issued, the request is still audited. */
  issue: boolean;
  codeMac: Buffer;
  linkMac: Buffer | null;
  browserMac: Buffer;
  expiresAt: Date;
  locale: string;
  interactionUid: string | null;
  /** Sign-up: the address as typed, which the mail goes to. */
  recipient?: string;
  /** The message that carries the code; for sign-up, `existing` goes to an address that has an account already. */
  message: { template: string; payload: Buffer; existing?: { template: string; payload: Buffer } };
  audit: { event: AuditEventName; ip: string | null; userAgent: string | null; details: Record<string, string | number | boolean | null> };
};

/** Who a code is for and where it came from. */
export type CodeOwner = { userId: string | null; identifier: string; interactionUid: string | null; locale: string };

/** A code as a link finds it, without changing it. */
export type LinkedCode = CodeOwner & { purpose: CodePurpose; browserMac: Buffer; usable: boolean };

type OwnerRow = { user_id: string | null; identifier: string; interaction_uid: string | null; locale: string };
const toOwner = (row: OwnerRow): CodeOwner => ({ userId: row.user_id, identifier: row.identifier, interactionUid: row.interaction_uid, locale: row.locale });

// Who gets a code, per purpose: an enabled person with this email, or with this verified number.
// At sign-up nobody "gets" one through this: see SIGN_UP_REQUEST.
const TARGETS: Record<Exclude<CodePurpose, "sign_up">, string> = {
  sign_in_email: "SELECT id, email AS recipient FROM users WHERE lower(email) = $2 AND NOT disabled AND $3::boolean",
  sign_in_sms: "SELECT id, phone AS recipient FROM users WHERE phone = $2 AND phone_verified AND NOT disabled AND $3::boolean",
};
const CHANNEL: Record<CodePurpose, "email" | "sms"> = { sign_in_email: "email", sign_in_sms: "sms", sign_up: "email" };

// Revokes this browser's open codes of the purpose and identifier (a new code replaces them) when
// one is issued. Only this browser's: someone else asking for the same address must not be able
// to cancel a person's code (the per-address limit caps how many codes an address gets).
const REVOKE_OPEN = `revoked AS (
    UPDATE one_time_codes SET revoked_at = $1
     WHERE purpose = $4 AND identifier = $2 AND browser_hmac = $7 AND consumed_at IS NULL AND revoked_at IS NULL AND $3::boolean
  )`;
const AUDIT_REQUEST = `INSERT INTO audit_events (occurred_at, event, actor, user_id, email, ip, user_agent, details)
  SELECT $1, $13, 'anonymous', (SELECT id FROM target), $14, $15, $16,
         $17::jsonb || jsonb_build_object('sent', EXISTS (SELECT 1 FROM queued))
  RETURNING (SELECT count(*) FROM issued)::int AS issued`;

// One statement whatever the identifier: find the person, revoke their open codes, store the new
// code's HMACs, queue the message, audit. For an unknown identifier (or during the cooldown) the
// same statement runs and only the audit row is written: the answer takes one round trip either way.
const signInRequest = (purpose: Exclude<CodePurpose, "sign_up">) => `
  WITH target AS (${TARGETS[purpose]}),
  ${REVOKE_OPEN}, issued AS (
    INSERT INTO one_time_codes (purpose, identifier, user_id, code_hmac, link_hmac, browser_hmac, created_at, expires_at, locale, interaction_uid)
    SELECT $4, $2, id, $5, $6, $7, $1, $8, $9, $10 FROM target
    RETURNING id
  ), queued AS (
    INSERT INTO mail_outbox (channel, template, recipient, locale, payload, user_id, created_at, send_before, next_attempt_at)
    SELECT '${CHANNEL[purpose]}', $11, recipient, $9, $12, id, $1, $8, $1 FROM target
    RETURNING id
  )
  ${AUDIT_REQUEST}`;

// Sign-up: a code for an address nobody has; an address with an account gets the "you already
// have an account" mail instead (a disabled one gets nothing). One statement either way.
const SIGN_UP_REQUEST = `
  WITH target AS (SELECT id, disabled FROM users WHERE lower(email) = $2),
  ${REVOKE_OPEN}, issued AS (
    INSERT INTO one_time_codes (purpose, identifier, user_id, code_hmac, link_hmac, browser_hmac, created_at, expires_at, locale, interaction_uid)
    SELECT $4, $2, NULL, $5, $6, $7, $1, $8, $9, $10 WHERE $3::boolean AND NOT EXISTS (SELECT 1 FROM target)
    RETURNING id
  ), queued AS (
    INSERT INTO mail_outbox (channel, template, recipient, locale, payload, user_id, created_at, send_before, next_attempt_at)
    SELECT 'email', CASE WHEN t.id IS NULL THEN $11 ELSE $19 END, $18, $9, CASE WHEN t.id IS NULL THEN $12::bytea ELSE $20::bytea END, t.id, $1,
           CASE WHEN t.id IS NULL THEN $8 END, $1
      FROM (SELECT 1) one LEFT JOIN target t ON true
     WHERE $3::boolean AND NOT coalesce(t.disabled, false)
    RETURNING id
  )
  ${AUDIT_REQUEST}`;

// A code works only for the sign-in (or sign-up) it was asked in, in the browser that asked, and
// only while its person may still sign in that way: not disabled since, and for SMS still holding
// the number, verified. `bound` names the parameters that hold the browser's HMACs and the uid.
const bound = (browserMacs: string, uid: string) => `c.browser_hmac = ANY(${browserMacs}::bytea[]) AND c.interaction_uid = ${uid}`;
const OWNER_STILL_VALID = `(c.user_id IS NULL OR EXISTS (
    SELECT 1 FROM users u WHERE u.id = c.user_id AND NOT u.disabled
       AND (c.purpose <> 'sign_in_email' OR lower(u.email) = c.identifier)
       AND (c.purpose <> 'sign_in_sms' OR (u.phone = c.identifier AND u.phone_verified))))`;

// The newest open code of this purpose and identifier that this browser asked for in this interaction.
const OPEN_CODE = `SELECT c.id FROM one_time_codes c
   WHERE c.purpose = $1 AND c.identifier = $2 AND ${bound("$3", "$7")}
     AND c.consumed_at IS NULL AND c.revoked_at IS NULL AND c.expires_at > $5 AND c.attempts < $6
   ORDER BY c.id DESC LIMIT 1`;
// Still usable when the row is locked: re-checked by PostgreSQL after a concurrent update.
const STILL_OPEN = "c.consumed_at IS NULL AND c.revoked_at IS NULL AND c.expires_at > $5 AND c.attempts < $6";

/** The outcome of trying a code: no open code for this browser, a wrong one (attempts so far), or a match. */
export type Attempt = { found: false } | { found: true; matched: false; attempts: number } | ({ found: true; matched: true; attempts: number } & CodeOwner);

/** Where a code must be used: the browser that asked (its HMACs, one per cookie key), and the interaction it asked in. */
export type Binding = { browserMacs: Macs; interactionUid: string };

export interface OneTimeCodeStore {
  /** Issues a code (see signInRequest and SIGN_UP_REQUEST); whether one was issued. */
  request(request: CodeRequest): Promise<boolean>;
  /**
   * Tries a code against the newest open one this browser asked for in this interaction: counts
   * the attempt and, on a match, consumes it (sign-in) or approves it (sign-up: consumed when the
   * account is made).
   */
  attempt(input: { purpose: CodePurpose; identifier: string; binding: Binding; codeMacs: Macs; onMatch: "consume" | "approve" }): Promise<Attempt>;
  /** The code a link belongs to, in whatever state, unchanged (a GET, a mail scanner's too). */
  findByLink(linkMacs: Macs): Promise<LinkedCode | undefined>;
  /** Uses a link of this purpose where it was asked for: consumes (sign-in) or approves (sign-up) it. */
  useLink(input: { purpose: CodePurpose; linkMacs: Macs; binding: Binding; onMatch: "consume" | "approve" }): Promise<CodeOwner | undefined>;
  /** A link opened in another browser, with the confirmation code the asking browser shows: counts the attempt, approves on a match. */
  approveByLink(input: { linkMacs: Macs; confirmed: boolean }): Promise<"approved" | "wrong" | "unusable">;
  /**
   * Consumes an approved code asked for here. A sign-in's approval lasts as long as its code; a
   * sign-up's `withinSeconds` from the approval (the person is choosing a password).
   */
  consumeApproved(input: { purpose: CodePurpose; identifier: string; binding: Binding; withinSeconds?: number }): Promise<CodeOwner | undefined>;
  /** Whether a code asked for here was approved at most `withinSeconds` ago and is unused. */
  isApproved(input: { purpose: CodePurpose; identifier: string; binding: Binding; withinSeconds: number }): Promise<boolean>;
  /** Deletes codes that expired before the cutoff; how many. */
  deleteExpiredBefore(cutoff: Date): Promise<number>;
}

// A user agent is attacker-controlled: keep enough to recognise it (as the audit store does).
const MAX_USER_AGENT = 512;

export function createOneTimeCodeStore(db: Queryable, now: () => Date = () => new Date()): OneTimeCodeStore {
  return {
    async request(request: CodeRequest): Promise<boolean> {
      const signUp = request.purpose === "sign_up";
      const existing = request.message.existing;
      if (signUp && !existing) throw new Error("a sign-up request needs the mail for an existing account");
      const { rows } = await db.query<{ issued: number }>(signUp ? SIGN_UP_REQUEST : signInRequest(request.purpose as Exclude<CodePurpose, "sign_up">), [
        now(),
        request.identifier,
        request.issue,
        request.purpose,
        request.codeMac,
        request.linkMac,
        request.browserMac,
        request.expiresAt,
        request.locale,
        request.interactionUid,
        request.message.template,
        request.message.payload,
        request.audit.event,
        CHANNEL[request.purpose] === "email" ? request.identifier : null,
        request.audit.ip,
        request.audit.userAgent?.slice(0, MAX_USER_AGENT) ?? null,
        JSON.stringify(request.audit.details),
        // Sign-up mails the address as typed (the account, if any, has its own spelling).
        ...(signUp ? [request.recipient ?? request.identifier, existing!.template, existing!.payload] : []),
      ]);
      return rows[0]!.issued > 0;
    },

    async attempt({ purpose, identifier, binding, codeMacs, onMatch }): Promise<Attempt> {
      const use = onMatch === "consume" ? "consumed_at" : "approved_at";
      const { rows } = await db.query<OwnerRow & { matched: boolean; attempts: number }>(
        `UPDATE one_time_codes c SET attempts = c.attempts + 1, ${use} = CASE WHEN c.code_hmac = ANY($4::bytea[]) THEN $5 END
          WHERE c.id = (${OPEN_CODE}) AND ${STILL_OPEN} AND c.approved_at IS NULL AND ${OWNER_STILL_VALID}
          RETURNING c.user_id, c.identifier, c.interaction_uid, c.locale, c.${use} IS NOT NULL AS matched, c.attempts`,
        [purpose, identifier, binding.browserMacs, codeMacs, now(), MAX_CODE_ATTEMPTS, binding.interactionUid],
      );
      const row = rows[0];
      if (!row) return { found: false };
      return row.matched ? { found: true, matched: true, attempts: row.attempts, ...toOwner(row) } : { found: true, matched: false, attempts: row.attempts };
    },

    async findByLink(linkMacs: Macs): Promise<LinkedCode | undefined> {
      const { rows } = await db.query<OwnerRow & { purpose: CodePurpose; browser_hmac: Buffer; usable: boolean }>(
        `SELECT c.purpose, c.user_id, c.identifier, c.interaction_uid, c.locale, c.browser_hmac,
                (c.consumed_at IS NULL AND c.revoked_at IS NULL AND c.expires_at > $2 AND c.attempts < $3 AND ${OWNER_STILL_VALID}) AS usable
           FROM one_time_codes c WHERE c.link_hmac = ANY($1::bytea[])`,
        [linkMacs, now(), MAX_CODE_ATTEMPTS],
      );
      const row = rows[0];
      return row && { ...toOwner(row), purpose: row.purpose, browserMac: row.browser_hmac, usable: row.usable };
    },

    async useLink({ purpose, linkMacs, binding, onMatch }): Promise<CodeOwner | undefined> {
      const use = onMatch === "consume" ? "consumed_at" : "approved_at";
      const { rows } = await db.query<OwnerRow>(
        `UPDATE one_time_codes c SET ${use} = $5
          WHERE c.purpose = $1 AND c.link_hmac = ANY($2::bytea[]) AND ${bound("$3", "$4")}
            AND c.consumed_at IS NULL AND c.revoked_at IS NULL AND c.expires_at > $5 AND c.attempts < $6 AND c.approved_at IS NULL
            AND ${OWNER_STILL_VALID}
          RETURNING c.user_id, c.identifier, c.interaction_uid, c.locale`,
        [purpose, linkMacs, binding.browserMacs, binding.interactionUid, now(), MAX_CODE_ATTEMPTS],
      );
      return rows[0] && toOwner(rows[0]);
    },

    async approveByLink({ linkMacs, confirmed }): Promise<"approved" | "wrong" | "unusable"> {
      const { rows } = await db.query<{ approved: boolean }>(
        `UPDATE one_time_codes c SET attempts = c.attempts + 1, approved_at = CASE WHEN $2::boolean THEN $3 END
          WHERE c.link_hmac = ANY($1::bytea[]) AND c.consumed_at IS NULL AND c.revoked_at IS NULL AND c.approved_at IS NULL
            AND c.expires_at > $3 AND c.attempts < $4 AND ${OWNER_STILL_VALID}
          RETURNING c.approved_at IS NOT NULL AS approved`,
        [linkMacs, confirmed, now(), MAX_CODE_ATTEMPTS],
      );
      if (!rows[0]) return "unusable";
      return rows[0].approved ? "approved" : "wrong";
    },

    async consumeApproved({ purpose, identifier, binding, withinSeconds }): Promise<CodeOwner | undefined> {
      const at = now();
      // A sign-in's approval ends with its code; a sign-up's lasts withinSeconds from the approval.
      const approvedSince = withinSeconds === undefined ? new Date(0) : new Date(at.getTime() - withinSeconds * 1000);
      const { rows } = await db.query<OwnerRow>(
        `UPDATE one_time_codes c SET consumed_at = $4
          WHERE c.id = (SELECT c.id FROM one_time_codes c
                         WHERE c.purpose = $1 AND c.identifier = $2 AND ${bound("$3", "$7")}
                           AND c.approved_at > $5 AND c.consumed_at IS NULL AND c.revoked_at IS NULL
                           AND ($6::boolean OR c.expires_at > $4)
                         ORDER BY c.id DESC LIMIT 1)
            AND c.consumed_at IS NULL AND c.revoked_at IS NULL AND ${OWNER_STILL_VALID}
          RETURNING c.user_id, c.identifier, c.interaction_uid, c.locale`,
        [purpose, identifier, binding.browserMacs, at, approvedSince, withinSeconds !== undefined, binding.interactionUid],
      );
      return rows[0] && toOwner(rows[0]);
    },

    async isApproved({ purpose, identifier, binding, withinSeconds }): Promise<boolean> {
      const at = now();
      const { rows } = await db.query(
        `SELECT 1 FROM one_time_codes c
          WHERE c.purpose = $1 AND c.identifier = $2 AND ${bound("$3", "$5")} AND c.approved_at > $4 AND c.consumed_at IS NULL AND c.revoked_at IS NULL`,
        [purpose, identifier, binding.browserMacs, new Date(at.getTime() - withinSeconds * 1000), binding.interactionUid],
      );
      return rows.length > 0;
    },

    async deleteExpiredBefore(cutoff: Date): Promise<number> {
      // An approved sign-up stays usable past its code's expiry for a while (choosing a password).
      const { rowCount } = await db.query("DELETE FROM one_time_codes WHERE expires_at < $1", [cutoff]);
      return rowCount ?? 0;
    },
  };
}

