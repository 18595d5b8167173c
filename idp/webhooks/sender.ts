// Posts one webhook message, signed per the Standard Webhooks specification (the `standardwebhooks`
// library): webhook-id, webhook-timestamp (this attempt's time, in seconds) and webhook-signature
// (v1, HMAC-SHA256 over "id.timestamp.body" with the endpoint's whsec_ secret). Any 2xx answer is
// delivered; anything else, or no answer within the time limit, is an error to retry.
import { randomBytes } from "node:crypto";
import { Webhook } from "standardwebhooks";

/** A new endpoint secret in the specification's form: whsec_ and 32 random bytes in base64. */
export const newWebhookSecret = () => `whsec_${randomBytes(32).toString("base64")}`;

export class WebhookDeliveryError extends Error {
  override name = "WebhookDeliveryError";
  /** The receiver's HTTP status, when it answered. */
  readonly status?: number;
  constructor(message: string, status?: number) {
    super(message);
    this.status = status;
  }
}

export type WebhookMessage = { url: string; secret: string; messageId: string; body: string };

/** The three signature headers of a message sent at `at`. */
export function signatureHeaders(message: Pick<WebhookMessage, "secret" | "messageId" | "body">, at: Date): Record<string, string> {
  return {
    "webhook-id": message.messageId,
    "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
    "webhook-signature": new Webhook(message.secret).sign(message.messageId, at, message.body),
  };
}

/** Posts the message; resolves with the status of a 2xx answer, throws WebhookDeliveryError otherwise. */
export async function postWebhook(message: WebhookMessage, options: { now: () => Date; timeoutSeconds: number }): Promise<number> {
  let response: Response;
  try {
    response = await fetch(message.url, {
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": "convex-idp-webhooks", ...signatureHeaders(message, options.now()) },
      body: message.body,
      redirect: "manual",
      signal: AbortSignal.timeout(options.timeoutSeconds * 1000),
    });
  } catch (error) {
    const cause = (error as Error & { cause?: Error }).cause;
    const reason = (error as Error).name === "TimeoutError" ? `no answer within ${options.timeoutSeconds} s` : (cause?.message ?? (error as Error).message);
    throw new WebhookDeliveryError(`not delivered: ${reason}`);
  }
  // The body is not kept: only whether it was taken.
  await response.body?.cancel().catch(() => {});
  if (response.status < 200 || response.status >= 300) throw new WebhookDeliveryError(`the receiver answered ${response.status}`, response.status);
  return response.status;
}
