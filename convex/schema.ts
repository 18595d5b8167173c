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
  }).index("by_token", ["tokenIdentifier"]),

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
