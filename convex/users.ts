import type { UserIdentity } from "convex/server";
import { getUserIdentity, requireRole, requireUser } from "./auth.js";
import { mutation, query, type QueryCtx } from "./_generated/server.js";

// The profile claims of our ID tokens, under their raw customJwt names (email_verified, picture),
// mapped to the users table. A claim of an unexpected type is treated as absent.
function profile(identity: UserIdentity) {
  const text = (value: unknown) => (typeof value === "string" ? value : undefined);
  return {
    email: text(identity.email),
    emailVerified: typeof identity.email_verified === "boolean" ? identity.email_verified : undefined,
    name: text(identity.name),
    pictureUrl: text(identity.picture),
  };
}

/** The users document of this identity, if users.store has run for it. */
export async function findUser(ctx: QueryCtx, identity: UserIdentity) {
  return await ctx.db
    .query("users")
    .withIndex("by_token", (q) => q.eq("tokenIdentifier", identity.tokenIdentifier))
    .unique();
}

/** Call after signing in: creates the signed-in user's document, or updates the fields that changed. */
export const store = mutation({
  args: {},
  handler: async (ctx) => {
    const identity = await requireUser(ctx);
    const fields = profile(identity);
    const existing = await findUser(ctx, identity);
    if (existing === null) {
      return await ctx.db.insert("users", {
        tokenIdentifier: identity.tokenIdentifier,
        subject: identity.subject,
        ...fields,
      });
    }
    const changed = (Object.keys(fields) as (keyof typeof fields)[]).some((key) => existing[key] !== fields[key]);
    // patch() removes the fields set to undefined: a claim no longer in the token is dropped.
    if (changed) await ctx.db.patch("users", existing._id, fields);
    return existing._id;
  },
});

/** The signed-in user's document; null when signed out or not stored yet. */
export const current = query({
  args: {},
  handler: async (ctx) => {
    const identity = await getUserIdentity(ctx);
    return identity === null ? null : await findUser(ctx, identity);
  },
});

/**
 * Who is signed in, as Convex sees it: read from the token alone, so it works before users.store
 * has run (a server-rendered page asks this with fetchQuery). Null when signed out.
 */
export const viewer = query({
  args: {},
  handler: async (ctx) => {
    const identity = await getUserIdentity(ctx);
    if (identity === null) return null;
    const { email, name } = profile(identity);
    return { subject: identity.subject, tokenIdentifier: identity.tokenIdentifier, email: email ?? null, name: name ?? null };
  },
});

/** Admins only (the `admin` role in the token: requireRole): every stored user, by subject. */
export const list = query({
  args: {},
  handler: async (ctx) => {
    await requireRole(ctx, "admin");
    const users = await ctx.db.query("users").collect();
    return users.map(({ subject, email, name }) => ({ subject, email: email ?? null, name: name ?? null }));
  },
});
