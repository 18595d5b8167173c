// The events webhooks report, and what each carries: a user's profile as the ID token's claims name
// it (so a receiver stores the same fields a signed-in user's token gives), or only their id where
// the profile is gone (user.deleted) or beside the point (session.revoked). Flows call reportUser
// inside the transaction of the change, with the webhook store over that transaction.
import type { User } from "../store/users.ts";
import type { WebhookStore } from "../store/webhooks.ts";

export const WEBHOOK_EVENT_TYPES = ["user.created", "user.updated", "user.disabled", "user.enabled", "user.deleted", "session.revoked"] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** What `idp webhooks test` posts: no user, not among the types an endpoint subscribes to. */
export const TEST_EVENT_TYPE = "webhook.test";

export const isWebhookEventType = (type: string): type is WebhookEventType => (WEBHOOK_EVENT_TYPES as readonly string[]).includes(type);

/** A user's profile in a webhook: `id` is the tokens' `sub`; times in seconds, as in tokens. */
export function userData(user: User): Record<string, unknown> {
  return {
    id: user.id,
    email: user.email,
    email_verified: user.emailVerified,
    name: user.name,
    picture: user.picture,
    phone_number: user.phone,
    phone_number_verified: user.phoneVerified,
    disabled: user.disabled,
    created_at: Math.floor(user.createdAt.getTime() / 1000),
    updated_at: Math.floor(user.updatedAt.getTime() / 1000),
  };
}

type Reported =
  | { type: Exclude<WebhookEventType, "user.deleted" | "session.revoked">; user: User }
  | { type: "user.deleted"; userId: string }
  | { type: "session.revoked"; userId: string; details?: Record<string, unknown> };

/** Queues the event for every endpoint that takes it; call with the store over the change's transaction. */
export async function reportUser(webhooks: Pick<WebhookStore, "enqueue">, event: Reported): Promise<void> {
  if ("user" in event) {
    await webhooks.enqueue({ type: event.type, userId: event.user.id, data: userData(event.user) });
    return;
  }
  const details = event.type === "session.revoked" ? event.details : undefined;
  await webhooks.enqueue({ type: event.type, userId: event.userId, data: { id: event.userId, ...details } });
}
