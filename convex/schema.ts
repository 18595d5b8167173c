import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";

export default defineSchema({
  // One document per person, keyed by Convex's tokenIdentifier (`${iss}|${sub}`); the profile
  // fields are copied from the ID token's claims by users.store.
  users: defineTable({
    tokenIdentifier: v.string(),
    subject: v.string(),
    email: v.optional(v.string()),
    emailVerified: v.optional(v.boolean()),
    name: v.optional(v.string()),
    pictureUrl: v.optional(v.string()),
    // Set by the IdP's webhooks (idpWebhooks.ts): whether the operator disabled the account, and
    // when (ms) the person was last signed out everywhere (a password reset).
    disabled: v.optional(v.boolean()),
    sessionsRevokedAt: v.optional(v.number()),
  }).index("by_token", ["tokenIdentifier"]),

  // The webhook-ids of the IdP's messages already applied: a message delivered twice (at least
  // once, by design) changes nothing the second time.
  idpWebhooks: defineTable({
    webhookId: v.string(),
    type: v.string(),
    receivedAt: v.number(),
  }).index("by_webhook_id", ["webhookId"]),

  // The service example: people add tasks, a backend worker (with a service token) completes them.
  tasks: defineTable({
    text: v.string(),
    status: v.union(v.literal("pending"), v.literal("done")),
    userId: v.id("users"),
    result: v.optional(v.string()),
  })
    .index("by_status", ["status"])
    .index("by_user", ["userId"]),
});
