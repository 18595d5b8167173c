// Checks an email and password. Every failure before the password is known to be right looks the
// same and costs the same, so the response never tells whether an email is registered: an unknown
// email is hashed against a dummy, counted towards the lockout and audited exactly like a wrong password.
import type { UserStore, User } from "../store/users.ts";
import type { AuditStore } from "../store/audit.ts";
import { accountKey, type Lockout } from "../abuse/lockout.ts";
import type { PasswordHasher } from "./passwords.ts";

export type SignInResult =
  | { ok: true; user: User }
  | { ok: false; reason: "invalid_credentials" | "disabled" }
  /** Too many failures for this email (registered or not): nothing was checked. */
  | { ok: false; reason: "locked"; retryAfterSeconds: number };

/** Who is asking, for the audit trail. */
export type SignInContext = { ip?: string; userAgent?: string };

export type SignInOptions = {
  /** Brute-force detection; without it failures are neither counted nor delayed. */
  lockout?: Lockout;
  audit?: AuditStore;
  /** Waits out the progressive delay; tests record it instead. */
  sleep?: (ms: number) => Promise<void>;
};

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function createPasswordSignIn(users: UserStore, hasher: PasswordHasher, options: SignInOptions = {}) {
  const { lockout, audit } = options;
  const sleep = options.sleep ?? sleepFor;

  return async function signInWithPassword(email: string, password: string, context: SignInContext = {}): Promise<SignInResult> {
    const account = accountKey(email);
    // The email as typed (audit_events keeps it even when no such user exists); never the password.
    const who = { email, ip: context.ip ?? null, userAgent: context.userAgent ?? null };
    const failed = (reason: string, userId: string | null = null) =>
      audit?.record({ event: "sign_in.failed", actor: "anonymous", userId, ...who, details: { reason } });

    const lockedFor = await lockout?.lockedFor(account);
    if (lockedFor !== undefined) {
      await failed("locked");
      return { ok: false, reason: "locked", retryAfterSeconds: lockedFor };
    }

    const user = await users.findByEmail(email.trim());
    let passwordOk = false;
    if (user?.passwordHash) passwordOk = await hasher.verify(user.passwordHash, password);
    else await hasher.verifyDummy(password);

    if (!user || !passwordOk) {
      // From here on, a known and an unknown email take the same steps: count, audit, wait.
      const outcome = await lockout?.recordFailure(account);
      await failed("invalid_credentials", user?.id ?? null);
      if (outcome?.locked) {
        if (outcome.created) {
          await audit?.record({
            event: "account.locked",
            actor: "anonymous",
            userId: user?.id ?? null,
            ...who,
            details: { reason: "too_many_failures", failures: outcome.failures, lockedForSeconds: outcome.lockedForSeconds, lockouts: outcome.lockouts },
          });
        }
        return { ok: false, reason: "locked", retryAfterSeconds: outcome.lockedForSeconds };
      }
      // The delay is waited with no database connection held: each query above released its own.
      if (outcome?.delayMs) await sleep(outcome.delayMs);
      return { ok: false, reason: "invalid_credentials" };
    }

    // Only someone who knows the password learns that the account is disabled.
    if (user.disabled) {
      await failed("disabled", user.id);
      return { ok: false, reason: "disabled" };
    }
    await lockout?.recordSuccess(account);
    if (hasher.needsRehash(user.passwordHash!)) {
      await users.upgradePasswordHash(user.id, user.passwordHash!, await hasher.hash(password));
    }
    await audit?.record({ event: "sign_in.succeeded", actor: `user:${user.id}`, userId: user.id, ...who, details: { method: "password" } });
    return { ok: true, user: user };
  };
}
