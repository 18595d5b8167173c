// Where SMS go: Twilio's REST API (or a Twilio-compatible one), a signed webhook the operator runs
// (any other provider behind it), or, in development with neither, .sms.txt files in
// DATA_DIR/outbox/ with the text in the log, so `npm start` alone can walk every flow that sends
// SMS. Every request is bounded in time and never follows a redirect (it carries credentials).
import { randomBytes, randomUUID } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { FastifyBaseLogger } from "fastify";
import { twilioSenderKind, type Config } from "../config.ts";
import { SIGNATURE_HEADER, signWebhook } from "./webhook-signature.ts";

/** An SMS ready to go: its text, to an E.164 number. `id` is the same on every attempt (a receiver can deduplicate). */
export type OutgoingSms = { to: string; body: string; id?: string };

export interface SmsSender {
  /** "twilio", "webhook", or "file" for the development outbox. */
  readonly kind: "twilio" | "webhook" | "file";
  /** Resolves once the provider (or the file) has the message; rejects with SmsDeliveryError otherwise. */
  send(message: OutgoingSms): Promise<void>;
}

/**
 * A message the provider did not take. `permanent` when sending it again cannot help (the provider
 * refused this message itself, e.g. an invalid number): the outbox then gives it up at once.
 */
export class SmsDeliveryError extends Error {
  override name = "SmsDeliveryError";
  readonly status: number | undefined;
  /** The provider's error code (Twilio's 21211, ...). */
  readonly code: string | number | undefined;
  readonly permanent: boolean;
  constructor(message: string, detail: { status?: number; code?: string | number; permanent?: boolean } = {}) {
    super(message);
    this.status = detail.status;
    this.code = detail.code;
    this.permanent = detail.permanent ?? false;
  }
}

// Provider messages can be long (and echo the number); the error keeps the start.
const MAX_DETAIL = 200;

/** Answers that say "this message, as sent, will never be accepted"; every other failure is retried. */
const PERMANENT_STATUSES = new Set([400, 413, 422]);

function unreachable(what: string, error: unknown, timeoutMs: number): SmsDeliveryError {
  const name = (error as Error)?.name;
  if (name === "TimeoutError" || name === "AbortError") return new SmsDeliveryError(`no answer from ${what} within ${timeoutMs} ms`);
  // fetch says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND, ...) is in the cause.
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  return new SmsDeliveryError(`could not reach ${what}: ${cause?.code ?? cause?.message ?? (error as Error)?.message ?? String(error)}`);
}

async function post(url: string, init: RequestInit, what: string, timeoutMs: number): Promise<{ status: number; text: string }> {
  try {
    const response = await fetch(url, { ...init, method: "POST", redirect: "error", signal: AbortSignal.timeout(timeoutMs) });
    // The body is read under the same deadline.
    return { status: response.status, text: await response.text() };
  } catch (error) {
    throw unreachable(what, error, timeoutMs);
  }
}

export type TwilioSettings = Pick<Config, "smsTwilioAccountSid" | "smsTwilioAuthToken" | "smsTwilioFrom" | "smsTwilioApiUrl">;

/**
 * Twilio's Messages API: POST {api}/2010-04-01/Accounts/{sid}/Messages.json, HTTP Basic sid:token,
 * form fields To, Body, and From or MessagingServiceSid. A refusal becomes an SmsDeliveryError with
 * Twilio's error code and message (never the request, which holds the token).
 */
export function twilioSender(settings: TwilioSettings, options: { timeoutMs: number }): SmsSender {
  const sid = settings.smsTwilioAccountSid!;
  const url = `${settings.smsTwilioApiUrl.replace(/\/+$/, "")}/2010-04-01/Accounts/${encodeURIComponent(sid)}/Messages.json`;
  const authorization = `Basic ${Buffer.from(`${sid}:${settings.smsTwilioAuthToken!}`).toString("base64")}`;
  const from = settings.smsTwilioFrom!;
  const fromField = twilioSenderKind(from) === "messagingService" ? "MessagingServiceSid" : "From";
  return {
    kind: "twilio",
    async send(message) {
      const form = new URLSearchParams({ To: message.to, [fromField]: from, Body: message.body });
      const { status, text } = await post(
        url,
        { headers: { authorization, "content-type": "application/x-www-form-urlencoded", accept: "application/json" }, body: form.toString() },
        "the Twilio API",
        options.timeoutMs,
      );
      if (status >= 200 && status < 300) return;
      let body: { code?: unknown; message?: unknown } = {};
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        // not JSON (a proxy's error page): the status says enough
      }
      const code = typeof body.code === "number" || typeof body.code === "string" ? body.code : undefined;
      const said = typeof body.message === "string" ? `: ${body.message.slice(0, MAX_DETAIL)}` : "";
      throw new SmsDeliveryError(`Twilio answered ${status}${code !== undefined ? ` (error ${code})` : ""}${said}`, {
        status,
        code,
        permanent: PERMANENT_STATUSES.has(status),
      });
    },
  };
}

/**
 * The operator's own endpoint: POST JSON {"to","body","id"} signed with SMS_WEBHOOK_SECRET
 * (webhook-signature.ts). Any 2xx is sent; the id repeats on retries, for deduplication.
 */
export function webhookSender(
  settings: Pick<Config, "smsWebhookUrl" | "smsWebhookSecret">,
  options: { timeoutMs: number; now?: () => Date },
): SmsSender {
  const now = options.now ?? (() => new Date());
  return {
    kind: "webhook",
    async send(message) {
      const body = JSON.stringify({ to: message.to, body: message.body, id: message.id ?? randomUUID() });
      const signature = signWebhook(settings.smsWebhookSecret!, body, Math.floor(now().getTime() / 1000));
      const { status } = await post(
        settings.smsWebhookUrl!,
        { headers: { "content-type": "application/json", [SIGNATURE_HEADER]: signature }, body },
        "the SMS webhook",
        options.timeoutMs,
      );
      if (status >= 200 && status < 300) return;
      throw new SmsDeliveryError(`the SMS webhook answered ${status}`, { status, permanent: PERMANENT_STATUSES.has(status) });
    },
  };
}

/** The development outbox: each SMS as a .sms.txt file (mode 0600), its text logged. */
export function fileSmsSender(config: Pick<Config, "dataDir">, log: Pick<FastifyBaseLogger, "info">): SmsSender {
  const dir = path.join(config.dataDir, "outbox");
  return {
    kind: "file",
    async send(message) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const file = path.join(dir, `${new Date().toISOString().replace(/[:.]/g, "-")}-${randomBytes(4).toString("hex")}.sms.txt`);
      await writeFile(file, `To: ${message.to}\n\n${message.body}\n`, { mode: 0o600 });
      log.info({ file, to: message.to, body: message.body }, "SMS written to the development outbox (no SMS sender is configured)");
    },
  };
}

/** The sender the configuration asks for: Twilio or the webhook when set, files in development, none in production. */
export function smsSender(config: Config, log: Pick<FastifyBaseLogger, "info">, options: { now?: () => Date } = {}): SmsSender | undefined {
  const timeoutMs = config.mailSendTimeoutSeconds * 1000;
  if (config.smsTwilioAccountSid) return twilioSender(config, { timeoutMs });
  if (config.smsWebhookUrl) return webhookSender(config, { timeoutMs, now: options.now });
  if (!config.production) return fileSmsSender(config, log);
  return undefined;
}
