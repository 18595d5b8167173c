// Changing one's password on the account page, without HTTP: the current password is required
// (a wrong one counts toward the sign-in lockout, like a wrong password at sign-in), the new one
// meets the policy, and one transaction sets it, signs the person out everywhere but here, records
// `password.changed` and queues the "your password was changed" mail when mail can be sent.
import type { Database, Queryable } from "../db/database.ts";
import { accountKey, type Lockout } from "../abuse/lockout.ts";
import type { AuditStore } from "../store/audit.ts";
import type { MailOutboxStore } from "../store/mail-outbox.ts";
import type { OidcPayloadStore } from "../store/oidc-payloads.ts";
import type { UserStore } from "../store/users.ts";
import type { WebhookStore } from "../store/webhooks.ts";
import type { Sealer } from "../mail/seal.ts";
import { reportUser } from "../webhooks/events.ts";
import type { PasswordHasher } from "./passwords.ts";
import { passwordViolation, type PasswordViolation } from "./password-policy.ts";

export type PasswordChangeStores = {
  users: Pick<UserStore, "findById" | "setPasswordHash">;
  payloads: Pick<OidcPayloadStore, "revokeSessions">;
  audit: Pick<AuditStore, "record">;
  outbox: Pick<MailOutboxStore, "enqueue">;
  webhooks: Pick<WebhookStore, "enqueue">;
};

export type PasswordChangeDeps = {
  db: Database;
  stores: (queryable: Queryable) => PasswordChangeStores;
  hasher: PasswordHasher;
  lockout: Lockout;
  /** Seals the mail's payload; none: no mail transport, the change is only audited. */
  sealer?: Sealer;
  onMailQueued?: () => void;
  now: () => Date;
};

export type PasswordChangeInput = {
  userId: string;
  /** The session the change is made in: it stays signed in, every other one is signed out. */
  sessionUid: string;
  current: string;
  password: string;
  repeat: string;
  locale: string;
  ip: string;
  userAgent?: string;
};

export type PasswordChangeResult =
  | { ok: true; signedOut: number }
  | { ok: false; reason: "wrong_password" | "mismatch" | "unknown_user" }
  | { ok: false; reason: "locked"; retryAfterSeconds: number }
  | { ok: false; reason: "policy"; violation: PasswordViolation };

export function createPasswordChange(deps: PasswordChangeDeps) {
  const { db, hasher, lockout, now } = deps;
  const pool = deps.stores(db);

  return async function changePassword(input: PasswordChangeInput): Promise<PasswordChangeResult> {
    const user = await pool.users.findById(input.userId);
    if (!user) return { ok: false, reason: "unknown_user" };
    const who = { actor: `user:${user.id}`, userId: user.id, email: user.email, ip: input.ip, userAgent: input.userAgent ?? null };
    const account = accountKey(user.email);
    const lockedFor = await lockout.lockedFor(account);
    if (lockedFor !== undefined) return { ok: false, reason: "locked", retryAfterSeconds: lockedFor };
    const currentOk = user.passwordHash ? await hasher.verify(user.passwordHash, input.current) : (await hasher.verifyDummy(input.current), false);
    if (!currentOk) {
      const outcome = await lockout.recordFailure(account);
      await pool.audit.record({ event: "password.change_failed", ...who, details: { reason: "wrong_current_password" } });
      if (outcome.locked) {
        if (outcome.created) {
          await pool.audit.record({
            event: "account.locked",
            ...who,
            details: { reason: "too_many_failures", failures: outcome.failures, lockedForSeconds: outcome.lockedForSeconds, lockouts: outcome.lockouts },
          });
        }
        return { ok: false, reason: "locked", retryAfterSeconds: outcome.lockedForSeconds };
      }
      return { ok: false, reason: "wrong_password" };
    }
    await lockout.recordSuccess(account);
    const violation = passwordViolation(input.password, { email: user.email });
    if (violation) return { ok: false, reason: "policy", violation };
    if (input.password !== input.repeat) return { ok: false, reason: "mismatch" };

    // Hashed before the transaction: argon2 takes a while and should hold no connection.
    const passwordHash = await hasher.hash(input.password);
    const changedAt = now();
    const signedOut = await db.transaction(async (tx) => {
      const stores = deps.stores(tx);
      await stores.users.setPasswordHash(user.id, passwordHash);
      const revoked = await stores.payloads.revokeSessions(user.id, { exceptUid: input.sessionUid });
      await stores.audit.record({ event: "password.changed", ...who, details: { method: "account_page", revoked } });
      await reportUser(stores.webhooks, { type: "session.revoked", userId: user.id, details: { reason: "password_changed" } });
      if (deps.sealer) {
        await stores.outbox.enqueue({
          template: "password_changed",
          recipient: user.email,
          locale: input.locale,
          payload: deps.sealer.seal({ changedAt: changedAt.toISOString() }),
          userId: user.id,
        });
      }
      return revoked;
    });
    if (deps.sealer) deps.onMailQueued?.();
    return { ok: true, signedOut };
  };
}

export type ChangePassword = ReturnType<typeof createPasswordChange>;
