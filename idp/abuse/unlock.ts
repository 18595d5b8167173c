// The operator's unlock (`idp users unlock E`): clears an email's lock, failures and lock history
// in the shared counters, and records account.unlocked.
import type { Config } from "../config.ts";
import type { Database } from "../db/database.ts";
import { createAuditStore } from "../store/audit.ts";
import { createUserStore } from "../store/users.ts";
import { accountKey, createLockout, lockoutPolicy } from "./lockout.ts";
import { openRateLimitStore } from "./rate-limit-store.ts";

/** Returns whether the email was locked. Works for unknown emails too: they lock like real ones. */
export async function unlockAccount(
  config: Config,
  db: Database,
  email: string,
  by: { actor: string; actorDetails?: Record<string, string> } = { actor: "cli" },
): Promise<boolean> {
  const store = await openRateLimitStore(config, db);
  try {
    const wasLocked = await createLockout(store, lockoutPolicy(config)).unlock(accountKey(email));
    const user = await createUserStore(db).findByEmail(email.trim());
    await createAuditStore(db).record({
      event: "account.unlocked",
      actor: by.actor,
      userId: user?.id ?? null,
      email: email.trim(),
      details: { ...by.actorDetails, reason: "operator", wasLocked },
    });
    return wasLocked;
  } finally {
    await store.close();
  }
}
