// Who is calling: a person (an ID token from the IdP), a service (a client_credentials token with
// `token_use: "service"`), or nobody. With the customJwt form, claims reach functions under their
// raw names, so the claim is `identity.token_use`.
import type { Auth, UserIdentity } from "convex/server";
import { ConvexError } from "convex/values";

type AuthCtx = { auth: Auth };

/** True for service tokens; user ID tokens never carry `token_use`. */
export function isService(identity: UserIdentity): boolean {
  return identity.token_use === "service";
}

/** The signed-in person, or null when signed out. Throws for services. */
export async function getUserIdentity(ctx: AuthCtx): Promise<UserIdentity | null> {
  const identity = await ctx.auth.getUserIdentity();
  if (identity !== null && isService(identity)) {
    throw new ConvexError("Services cannot act as users");
  }
  return identity;
}

/** The signed-in person. Throws when signed out or called with a service token. */
export async function requireUser(ctx: AuthCtx): Promise<UserIdentity> {
  const identity = await getUserIdentity(ctx);
  if (identity === null) throw new ConvexError("Not signed in");
  return identity;
}

/** The calling service (`identity.subject` is its client id). Throws for people and when signed out. */
export async function requireService(ctx: AuthCtx): Promise<UserIdentity> {
  const identity = await ctx.auth.getUserIdentity();
  if (identity === null) throw new ConvexError("Not signed in");
  if (!isService(identity)) throw new ConvexError("Only services can call this function");
  return identity;
}

/**
 * The roles in a person's token: the `roles` claim, an array of strings, present for clients the
 * IdP registered with `--roles-claim` (anything else there counts as no roles).
 */
export function rolesOf(identity: UserIdentity): string[] {
  const roles = identity.roles;
  return Array.isArray(roles) ? roles.filter((role): role is string => typeof role === "string") : [];
}

/** The signed-in person, who must have `role`. Throws when signed out, for services, and without the role. */
export async function requireRole(ctx: AuthCtx, role: string): Promise<UserIdentity> {
  const identity = await requireUser(ctx);
  if (!rolesOf(identity).includes(role)) throw new ConvexError(`Requires the role ${role}`);
  return identity;
}
