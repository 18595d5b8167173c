// The IdP's user events, applied to the users table: the HTTP action in http.ts verifies the
// Standard Webhooks signature and hands the parsed event to `apply`, which records the webhook-id
// (so a message delivered twice changes nothing the second time) and creates, updates, marks or
// deletes the user's document. Users are keyed as users.store keys them: `${IDP_ISSUER}|${sub}`.
import { v, type ObjectType } from "convex/values";
import { internalMutation } from "./_generated/server.js";

const profile = v.object({
  email: v.optional(v.string()),
  emailVerified: v.optional(v.boolean()),
  name: v.optional(v.string()),
  pictureUrl: v.optional(v.string()),
  disabled: v.boolean(),
});

export const eventArgs = {
  webhookId: v.string(),
  type: v.string(),
  /** The event's time (ms): the IdP's, not the delivery's. */
  timestamp: v.number(),
  /** The user's `sub`. */
  subject: v.string(),
  /** The user's profile, for user.created, user.updated, user.disabled and user.enabled. */
  profile: v.optional(profile),
};
export type IdpEvent = ObjectType<typeof eventArgs>;

const PROFILE_EVENTS = ["user.created", "user.updated", "user.disabled", "user.enabled"];

/**
 * Reads an event's JSON body, { type, timestamp, data }, into `apply`'s arguments; undefined for a
 * type this app does not store (webhook.test, or one added to the IdP later) or a malformed body.
 */
export function parseEvent(webhookId: string, body: unknown): IdpEvent | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const { type, timestamp, data } = body as { type?: unknown; timestamp?: unknown; data?: Record<string, unknown> };
  if (typeof type !== "string" || typeof timestamp !== "string" || typeof data !== "object" || data === null) return undefined;
  if (typeof data.id !== "string" || Number.isNaN(Date.parse(timestamp))) return undefined;
  const event: IdpEvent = { webhookId, type, timestamp: Date.parse(timestamp), subject: data.id };
  if (PROFILE_EVENTS.includes(type)) {
    const text = (value: unknown) => (typeof value === "string" ? value : undefined);
    event.profile = {
      email: text(data.email),
      emailVerified: typeof data.email_verified === "boolean" ? data.email_verified : undefined,
      name: text(data.name),
      pictureUrl: text(data.picture),
      disabled: data.disabled === true,
    };
    return event;
  }
  return ["user.deleted", "session.revoked"].includes(type) ? event : undefined;
}

/** Applies one event once: "applied", or "duplicate" for a webhook-id seen before. */
export const apply = internalMutation({
  args: eventArgs,
  handler: async (ctx, event) => {
    const seen = await ctx.db
      .query("idpWebhooks")
      .withIndex("by_webhook_id", (q) => q.eq("webhookId", event.webhookId))
      .unique();
    if (seen !== null) return "duplicate" as const;
    await ctx.db.insert("idpWebhooks", { webhookId: event.webhookId, type: event.type, receivedAt: Date.now() });

    const issuer = process.env.IDP_ISSUER;
    // Thrown, so the action answers 500 and the IdP retries once the variable is set.
    if (!issuer) throw new Error("IDP_ISSUER is not set on this deployment");
    const tokenIdentifier = `${issuer}|${event.subject}`;
    const existing = await ctx.db
      .query("users")
      .withIndex("by_token", (q) => q.eq("tokenIdentifier", tokenIdentifier))
      .unique();

    if (event.profile) {
      // Every field named, also the absent ones: arguments lose their undefined fields on the way,
      // and patch() removes only the fields set to undefined (as users.store does for a claim no
      // longer in the token).
      const { email, emailVerified, name, pictureUrl, disabled } = event.profile;
      const fields = { email, emailVerified, name, pictureUrl, disabled };
      if (existing === null) await ctx.db.insert("users", { tokenIdentifier, subject: event.subject, ...fields });
      else await ctx.db.patch("users", existing._id, fields);
    } else if (event.type === "user.deleted" && existing !== null) {
      // A data-protection deletion: the person's tasks go with them.
      const tasks = await ctx.db
        .query("tasks")
        .withIndex("by_user", (q) => q.eq("userId", existing._id))
        .collect();
      for (const task of tasks) await ctx.db.delete("tasks", task._id);
      await ctx.db.delete("users", existing._id);
    } else if (event.type === "session.revoked" && existing !== null) {
      await ctx.db.patch("users", existing._id, { sessionsRevokedAt: event.timestamp });
    }
    return "applied" as const;
  },
});
