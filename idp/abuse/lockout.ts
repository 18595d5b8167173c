// Brute-force detection for password sign-in, keyed by normalised email: failures add a small
// growing delay, enough of them lock the email for a while (longer for each repeat, up to a cap),
// and every lock ends on its own. State lives in the RateLimitStore, so all instances share it.
//
// Policy: an unknown email is counted and locked exactly like a registered one, and while an email
// is locked every attempt (right password or not) gets the same "temporarily locked" answer. We
// chose a distinct lock message over a silent lock (answering "incorrect password" even to the
// right one) because:
//   - it reveals nothing about the account: unknown emails lock after the same number of failures,
//     for the same time, with the same page and headers;
//   - the person who owns the account learns to wait, instead of concluding their password is wrong;
//   - a locked attempt checks no password at all (for any email), so a burst against a locked
//     account costs no argon2 time, where a silent lock would have to hash to look like a failure.
import type { Config } from "../config.ts";
import type { RateLimitStore } from "../store/rate-limits.ts";

export type LockoutPolicy = {
  /** Failures within failureWindowSeconds that lock the email; 0: never lock. */
  threshold: number;
  failureWindowSeconds: number;
  /** The first lock; each further one within LOCKOUT_MEMORY_SECONDS doubles, up to maxDurationSeconds. */
  durationSeconds: number;
  maxDurationSeconds: number;
  /** Cap of the progressive delay after a failure; 0: no delay. */
  delayMaxMs: number;
};

/** How long earlier locks make the next one longer. */
export const LOCKOUT_MEMORY_SECONDS = 24 * 3600;
/** The delay after the second failure in a row; it doubles with each further one. */
export const FIRST_DELAY_MS = 250;

export function lockoutPolicy(config: Config): LockoutPolicy {
  return {
    threshold: config.lockoutThreshold,
    failureWindowSeconds: config.lockoutFailureWindowSeconds,
    durationSeconds: config.lockoutDurationSeconds,
    maxDurationSeconds: config.lockoutMaxDurationSeconds,
    delayMaxMs: config.signInDelayMaxMs,
  };
}

/**
 * The key an email is counted under: trimmed and lower-cased, and folded further (compatibility
 * decomposition, accents dropped, final sigma) so that no two spellings the database would match
 * to the same account (it compares lower(email)) get separate counters. Folding too much only
 * makes rare look-alike emails share a counter; folding too little would multiply an attacker's
 * guesses.
 */
export function accountKey(email: string): string {
  return email.trim().normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase().replace(/ς/g, "σ");
}

export type FailureOutcome =
  /** Not locked (yet): wait delayMs before answering. */
  | { locked: false; failures: number; delayMs: number }
  /**
   * The email is locked for lockedForSeconds: by this failure (created), or by a concurrent one.
   * lockouts counts the locks of the last day.
   */
  | { locked: true; created: boolean; failures: number; lockedForSeconds: number; lockouts: number };

const keys = (account: string) => ({
  failures: `lockout:failures:${account}`,
  lock: `lockout:lock:${account}`,
  lockouts: `lockout:count:${account}`,
});

/** The sign-in lockout over shared counters, per account key (accountKey(email)). */
export interface Lockout {
  readonly policy: LockoutPolicy;
  /** Seconds until the lock on this account key ends, or undefined when it is not locked. */
  lockedFor(account: string): Promise<number | undefined>;
  /** Counts a wrong password; locks the key when this failure reaches the threshold. */
  recordFailure(account: string): Promise<FailureOutcome>;
  /** A right password: earlier failures are forgotten (earlier locks still lengthen the next). */
  recordSuccess(account: string): Promise<void>;
  /**
   * A new password was set through a reset link: the lock and failures guarded a password that no
   * longer exists, so they go (the lock history stays, and still lengthens the next lock).
   */
  release(account: string): Promise<void>;
  /** The operator's unlock: lock, failures and lock history go. Returns whether it was locked. */
  unlock(account: string): Promise<boolean>;
}

export function createLockout(store: RateLimitStore, policy: LockoutPolicy, now: () => Date = () => new Date()): Lockout {
  const secondsUntil = (date: Date) => Math.max(1, Math.ceil((date.getTime() - now().getTime()) / 1000));

  return {
    policy,

    async lockedFor(account: string): Promise<number | undefined> {
      const lock = await store.get(keys(account).lock);
      return lock ? secondsUntil(lock.resetAt) : undefined;
    },

    async recordFailure(account: string): Promise<FailureOutcome> {
      const k = keys(account);
      const { count: failures } = await store.hit(k.failures, policy.failureWindowSeconds);
      if (policy.threshold === 0 || failures < policy.threshold) {
        return { locked: false, failures, delayMs: delayAfter(failures, policy.delayMaxMs) };
      }
      const earlier = (await store.get(k.lockouts))?.count ?? 0;
      const seconds = Math.min(policy.durationSeconds * 2 ** Math.min(earlier, 30), policy.maxDurationSeconds);
      // The lock's own counter decides who created it: of several concurrent failures that reach
      // the threshold (requests already past the lock check), only the one that sees 1 counts a
      // lockout; the others join the lock that exists.
      const lock = await store.hit(k.lock, seconds);
      // After a lock the next threshold failures count from zero again.
      await store.clear([k.failures]);
      if (lock.count > 1) return { locked: true, created: false, failures, lockedForSeconds: secondsUntil(lock.resetAt), lockouts: earlier };
      const { count: lockouts } = await store.hit(k.lockouts, LOCKOUT_MEMORY_SECONDS);
      return { locked: true, created: true, failures, lockedForSeconds: seconds, lockouts };
    },

    async recordSuccess(account: string): Promise<void> {
      await store.clear([keys(account).failures]);
    },

    async release(account: string): Promise<void> {
      const k = keys(account);
      await store.clear([k.lock, k.failures]);
    },

    async unlock(account: string): Promise<boolean> {
      const k = keys(account);
      const wasLocked = (await store.get(k.lock)) !== undefined;
      await store.clear([k.lock, k.failures, k.lockouts]);
      return wasLocked;
    },
  };
}

/** No delay after a first failure (a typo); then 250 ms, 500 ms, 1 s, ... up to the cap. */
export function delayAfter(failures: number, capMs: number): number {
  if (failures < 2 || capMs <= 0) return 0;
  return Math.min(FIRST_DELAY_MS * 2 ** Math.min(failures - 2, 30), capMs);
}
