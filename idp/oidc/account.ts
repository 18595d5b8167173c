// How oidc-provider sees a user: the account lookup and the claims each scope releases.
import { randomUUID } from "node:crypto";
import type { Account, FindAccount } from "oidc-provider";
import type { User, UserStore } from "../store/users.ts";

/** Claims released per scope. Convex only sees the ID token, so these go into it (conformIdTokenClaims off). */
export const scopeClaims = {
  // acr and amr come from the session, not the account: every ID token says how its person signed in.
  // roles: only to clients registered with --roles-claim (createFindAccount), always as an array.
  openid: ["sub", "jti", "acr", "amr", "roles"],
  email: ["email", "email_verified"],
  profile: ["name", "picture", "updated_at"],
  // OIDC's standard phone claims (Convex: phoneNumber, phoneNumberVerified), and the same under
  // the short names apps of ours read (identity.phone, identity.phone_verified).
  phone: ["phone_number", "phone_number_verified", "phone", "phone_verified"],
} as const;

export function userClaims(user: User): Record<string, unknown> {
  return {
    sub: user.id,
    email: user.email,
    email_verified: user.emailVerified,
    ...(user.name ? { name: user.name } : {}),
    ...(user.picture ? { picture: user.picture } : {}),
    updated_at: Math.floor(user.updatedAt.getTime() / 1000),
    // Only a person with a number has phone claims: an absent claim, not a null one.
    ...(user.phone
      ? { phone_number: user.phone, phone_number_verified: user.phoneVerified, phone: user.phone, phone_verified: user.phoneVerified }
      : {}),
  };
}

/**
 * A disabled or deleted user has no account: the provider then refuses their codes and refresh
 * tokens. Clients registered with --roles-claim also get `roles`: an array (Convex keeps arrays as
 * arrays), sorted, empty rather than absent, so it only changes when an operator changes it.
 */
export function createFindAccount(users: UserStore): FindAccount {
  return async (ctx, sub): Promise<Account | undefined> => {
    const user = await users.findById(sub);
    if (!user || user.disabled) return undefined;
    const withRoles = ctx?.oidc?.client?.metadata().roles_claim === true;
    return {
      accountId: user.id,
      // A fresh jti makes every ID token unique, even two issued in the same second: convex-js
      // drops auth when a forced refresh returns the string it already has.
      claims: (use) =>
        ({ ...userClaims(user), ...(withRoles ? { roles: [...user.roles] } : {}), ...(use === "id_token" ? { jti: randomUUID() } : {}) }) as { sub: string },
    };
  };
}
