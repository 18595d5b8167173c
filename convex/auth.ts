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

/** The levels of our acr values, weakest first (idp/accounts/authentication-methods.ts). */
const LEVELS = ["1fa", "mfa", "phr"] as const;
export type AuthenticationLevel = (typeof LEVELS)[number];

/** The issuer's host (new URL, not URL.parse: older runtimes lack it). */
function issuerHost(issuer: string): string | undefined {
  try {
    return new URL(issuer).host;
  } catch {
    return undefined;
  }
}

/**
 * The level the person's sign-in reached, read from the token's `acr` (`urn:<issuer host>:acr:<level>`,
 * the issuer's own: an acr naming another host counts for nothing) and `amr` (`mfa` when two kinds
 * of factor, or a user-verified passkey, were used). Needs the customJwt form of auth.config.ts: the
 * OIDC form does not hand `amr` and `acr` to functions.
 */
export function authenticationLevel(identity: UserIdentity): AuthenticationLevel {
  const host = issuerHost(identity.issuer);
  const acr = typeof identity.acr === "string" ? identity.acr : "";
  const level = LEVELS.find((candidate) => host !== undefined && acr === `urn:${host}:acr:${candidate}`);
  const amr = Array.isArray(identity.amr) ? identity.amr : [];
  if (level === "phr") return "phr";
  if (level === "mfa" || amr.includes("mfa")) return "mfa";
  return "1fa";
}

/**
 * The signed-in person, if their sign-in used a second factor (or a passkey, for `level: "phr"`).
 * Otherwise throws a ConvexError whose data says what to ask for: the app signs in again with
 * `acr_values` set to `data.acrValues`, and the IdP asks only for the missing factor.
 */
export async function requireMfa(ctx: AuthCtx, options: { level?: "mfa" | "phr" } = {}): Promise<UserIdentity> {
  const identity = await requireUser(ctx);
  const wanted = options.level ?? "mfa";
  if (LEVELS.indexOf(authenticationLevel(identity)) >= LEVELS.indexOf(wanted)) return identity;
  const host = issuerHost(identity.issuer) ?? "";
  throw new ConvexError({ code: "mfa_required", level: wanted, acrValues: `urn:${host}:acr:${wanted}` });
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
