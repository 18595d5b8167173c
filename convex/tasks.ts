import { ConvexError, v } from "convex/values";
import { requireService, requireUser } from "./auth.js";
import { mutation, query } from "./_generated/server.js";
import { findUser } from "./users.js";

// People (user ID tokens) add tasks and read their own; a backend worker (a service token) lists
// pending tasks and completes them. The worker sees a task's userId, never the user's profile.

/** User only: adds a pending task for the signed-in user (after users.store). */
export const create = mutation({
  args: { text: v.string() },
  handler: async (ctx, { text }) => {
    const user = await findUser(ctx, await requireUser(ctx));
    if (user === null) throw new ConvexError("Unknown user: call users.store after signing in");
    return await ctx.db.insert("tasks", { text, status: "pending", userId: user._id });
  },
});

/** User only: the signed-in user's tasks, newest first. */
export const mine = query({
  args: {},
  handler: async (ctx) => {
    const user = await findUser(ctx, await requireUser(ctx));
    if (user === null) return [];
    return await ctx.db
      .query("tasks")
      .withIndex("by_user", (q) => q.eq("userId", user._id))
      .order("desc")
      .collect();
  },
});

/** Service only: the oldest pending tasks, a batch at a time. */
export const pending = query({
  args: {},
  handler: async (ctx) => {
    await requireService(ctx);
    return await ctx.db
      .query("tasks")
      .withIndex("by_status", (q) => q.eq("status", "pending"))
      .take(100);
  },
});

/** Service only: marks a pending task done with its result. */
export const complete = mutation({
  args: { taskId: v.id("tasks"), result: v.string() },
  handler: async (ctx, { taskId, result }) => {
    await requireService(ctx);
    const task = await ctx.db.get("tasks", taskId);
    if (task === null) throw new ConvexError("Task not found");
    if (task.status !== "pending") throw new ConvexError("Task already done");
    await ctx.db.patch("tasks", taskId, { status: "done", result });
  },
});
