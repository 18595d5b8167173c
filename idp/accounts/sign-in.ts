// Checks an email and password. Every failure before the password is known to be right looks the
// same and costs the same, so the response never tells whether an email is registered.
import type { UserStore, User } from "../store/users.ts";
import type { PasswordHasher } from "./passwords.ts";

export type SignInResult =
  | { ok: true; user: User }
  | { ok: false; reason: "invalid_credentials" | "disabled" };

export function createPasswordSignIn(users: UserStore, hasher: PasswordHasher) {
  return async function signInWithPassword(email: string, password: string): Promise<SignInResult> {
    const user = await users.findByEmail(email.trim());
    if (!user?.passwordHash) {
      await hasher.verifyDummy(password);
      return { ok: false, reason: "invalid_credentials" };
    }
    if (!(await hasher.verify(user.passwordHash, password))) return { ok: false, reason: "invalid_credentials" };
    // Only someone who knows the password learns that the account is disabled.
    if (user.disabled) return { ok: false, reason: "disabled" };
    if (hasher.needsRehash(user.passwordHash)) {
      await users.upgradePasswordHash(user.id, user.passwordHash, await hasher.hash(password));
    }
    return { ok: true, user };
  };
}
