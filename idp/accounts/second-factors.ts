// Second factors, without HTTP: an authenticator app (TOTP, RFC 6238: SHA-1, 6 digits, 30 s, one
// step either side) and recovery codes; what a person has enrolled; and the MFA policy (the level a
// sign-in must reach). Seeds are sealed with the person's id as context (keys/secret-box.ts);
// recovery codes are kept as SHA-256 digests. A TOTP code is accepted once: the step of the last
// accepted code only moves forward, in one UPDATE. Every failure counts towards the lockout of the
// person's email, and every change is audited and mailed (security-notices.ts) in its transaction.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import * as OTPAuth from "otpauth";
import type { Database, Queryable } from "../db/database.ts";
import { accountKey, type Lockout } from "../abuse/lockout.ts";
import type { SecretBox } from "../keys/secret-box.ts";
import type { AuditStore } from "../store/audit.ts";
import type { MailOutboxStore } from "../store/mail-outbox.ts";
import type { SecondFactorStore } from "../store/second-factors.ts";
import { levelSatisfies, type AuthenticationLevel } from "./authentication-methods.ts";
import type { SecurityNotices } from "./security-notices.ts";
import type { FactorReset } from "./operator.ts";

export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
/** Codes of one step before or after now are accepted (clock drift, a code typed as it changed). */
export const TOTP_WINDOW = 1;
export const TOTP_CODE_PATTERN = "^[0-9]{6}$";
export const RECOVERY_CODE_COUNT = 10;
/** A recovery code as typed: 16 base32 letters and digits (80 bits), grouped by hyphens or spaces as you like. */
export const RECOVERY_CODE_PATTERN = "^[A-Za-z2-7 -]{16,40}$";
/** The context a seed is sealed with: its row's person (the benchmark seeds people with it too). */
export const sealContext = (userId: string) => `totp:${userId}`;
/** How long an app being set up waits for its first code: a key shown and abandoned is not kept. */
export const TOTP_ENROLMENT_TTL_SECONDS = 10 * 60;
/** The enrolment a page shows (its form carries it back): the digest of the sealed seed, 43 base64url characters. */
export const TOTP_ENROLMENT_PATTERN = "^[A-Za-z0-9_-]{43}$";
const enrolmentOf = (sealed: Buffer) => createHash("sha256").update(sealed).digest("base64url");
const sameEnrolment = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";

/** A fresh recovery code: 16 base32 characters, shown as four groups of four. */
function newRecoveryCode(): string {
  const bytes = randomBytes(16);
  const chars = [...bytes].map((byte) => BASE32[byte & 31]!).join("");
  return chars.match(/.{4}/g)!.join("-");
}

/** A code as typed, normalised the way it was hashed. */
function recoveryCodeHash(code: string): Buffer {
  return createHash("sha256").update(code.toLowerCase().replace(/[^a-z2-7]/g, ""), "utf8").digest();
}

export type SecondFactorStores = {
  secondFactors: SecondFactorStore;
  audit: AuditStore;
  outbox: Pick<MailOutboxStore, "enqueue">;
};

export type SecondFactorDeps = {
  db: Database;
  stores: (queryable: Queryable) => SecondFactorStores;
  box: SecretBox;
  notices: SecurityNotices;
  lockout: Lockout;
  /** The name authenticator apps show for this IdP (the brand). */
  issuerName: string;
  /** MFA=required: everyone needs a second factor. */
  mfaRequired: boolean;
  /** Whether the person has a passkey (the passkeys module's hook); none: nobody has. */
  hasPasskeys?: (userId: string) => Promise<boolean>;
  /** A security notice was queued (after its transaction committed). */
  onMailQueued?: () => void;
  now?: () => Date;
};

/** How long a first factor waits for its second (at most the interaction's own lifetime). */
export const PENDING_SIGN_IN_TTL_SECONDS = 10 * 60;
/** The HKDF info of the key TOTP seeds are sealed with. */
export const TOTP_SEED_INFO = "convex-idp totp seeds v1";

/** The person a factor belongs to. */
export type Person = { id: string; email: string };
/** Who is asking, for the audit trail and the mail. */
export type FactorContext = { ip?: string; userAgent?: string; locale?: string; clientId?: string; actor?: string };

export type Factors = { totp: boolean; recoveryCodesLeft: number; passkeys: boolean };

export type FactorCheck = { ok: true } | { ok: false; reason: "invalid" } | { ok: false; reason: "locked"; retryAfterSeconds: number };

/** An app being set up: its seed, the otpauth URI, and the enrolment the page's form carries back. */
export type TotpEnrolment = { secret: string; uri: string; enrolment: string };

export function createSecondFactors(deps: SecondFactorDeps) {
  const { db, box, notices, lockout } = deps;
  const now = deps.now ?? (() => new Date());
  const { secondFactors: store, audit } = deps.stores(db);

  /** Enrolments begun before this have expired. */
  const enrolmentStart = () => new Date(now().getTime() - TOTP_ENROLMENT_TTL_SECONDS * 1000);
  const enrolling = (factor: { createdAt: Date }) => factor.createdAt > enrolmentStart();

  const totpFor = (person: Person, secret: string) =>
    new OTPAuth.TOTP({ issuer: deps.issuerName, label: person.email, algorithm: "SHA1", digits: TOTP_DIGITS, period: TOTP_PERIOD_SECONDS, secret: OTPAuth.Secret.fromBase32(secret) });

  /** The step a code belongs to, or undefined when it is none of now's ±1. */
  function stepOf(person: Person, secret: string, code: string): number | undefined {
    const timestamp = now().getTime();
    const delta = totpFor(person, secret).validate({ token: code, timestamp, window: TOTP_WINDOW });
    if (delta === null) return undefined;
    return Math.floor(timestamp / 1000 / TOTP_PERIOD_SECONDS) + delta;
  }

  /** A failed factor: counted against the email's lockout and audited. */
  async function failed(person: Person, factor: string, reason: string, context: FactorContext): Promise<FactorCheck> {
    const outcome = await lockout.recordFailure(accountKey(person.email));
    const who = { userId: person.id, email: person.email, ip: context.ip ?? null, userAgent: context.userAgent ?? null, clientId: context.clientId ?? null };
    await audit.record({ event: "mfa.failed", actor: "anonymous", ...who, details: { factor, reason } });
    if (outcome.locked) {
      if (outcome.created) {
        await audit.record({
          event: "account.locked",
          actor: "anonymous",
          ...who,
          details: { reason: "too_many_failures", failures: outcome.failures, lockedForSeconds: outcome.lockedForSeconds, lockouts: outcome.lockouts },
        });
      }
      return { ok: false, reason: "locked", retryAfterSeconds: outcome.lockedForSeconds };
    }
    return { ok: false, reason: "invalid" };
  }

  async function locked(person: Person): Promise<FactorCheck | undefined> {
    const wait = await lockout.lockedFor(accountKey(person.email));
    return wait === undefined ? undefined : { ok: false, reason: "locked", retryAfterSeconds: wait };
  }

  const notice = (person: Person, context: FactorContext) => ({
    user: person,
    actor: context.actor ?? `user:${person.id}`,
    ip: context.ip ?? null,
    userAgent: context.userAgent ?? null,
    clientId: context.clientId ?? null,
    locale: context.locale,
  });

  async function newRecoveryCodes(stores: SecondFactorStores, userId: string): Promise<string[]> {
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    await stores.secondFactors.replaceRecoveryCodes(userId, codes.map(recoveryCodeHash));
    return codes;
  }

  const api = {
    async factors(userId: string): Promise<Factors> {
      const [totp, recoveryCodesLeft, passkeys] = await Promise.all([store.findTotp(userId), store.recoveryCodesLeft(userId), deps.hasPasskeys?.(userId) ?? false]);
      return { totp: totp?.confirmedAt != null, recoveryCodesLeft, passkeys };
    },

    /**
     * The level a sign-in of this person must reach: what the application asked for (acr_values),
     * raised to mfa by MFA=required, by a client that requires it, or by a factor the person enrolled.
     */
    async requiredLevel(userId: string, client: { requireMfa?: boolean } | undefined, requested: AuthenticationLevel = "1fa"): Promise<AuthenticationLevel> {
      if (levelSatisfies(requested, "mfa")) return requested;
      if (deps.mfaRequired || client?.requireMfa) return "mfa";
      // Asked on every authorization of a one-factor session (oidc/acr-values.ts): the app and the passkeys only.
      const [totp, passkeys] = await Promise.all([store.findTotp(userId), deps.hasPasskeys?.(userId) ?? false]);
      return totp?.confirmedAt != null || passkeys ? "mfa" : requested;
    },

    /**
     * Starts setting up an authenticator app with a new seed. Only the page that began an enrolment
     * (`continuing`, carried by its form) is shown its seed again, after a wrong code, while it lasts:
     * a seed shown elsewhere (a sign-in abandoned by whoever had the password) is never offered to
     * the person. Undefined when the person has a confirmed app.
     */
    async beginTotp(person: Person, continuing?: string): Promise<TotpEnrolment | undefined> {
      const existing = await store.findTotp(person.id);
      if (existing?.confirmedAt) return undefined;
      if (existing && continuing !== undefined && enrolling(existing) && sameEnrolment(continuing, enrolmentOf(existing.sealedSecret))) {
        const secret = box.open(existing.sealedSecret, sealContext(person.id));
        if (secret) return { secret, uri: totpFor(person, secret).toString(), enrolment: continuing };
      }
      const secret = new OTPAuth.Secret({ size: 20 }).base32;
      const sealed = box.seal(secret, sealContext(person.id));
      if (!(await store.beginTotp(person.id, sealed))) return undefined;
      return { secret, uri: totpFor(person, secret).toString(), enrolment: enrolmentOf(sealed) };
    },

    /**
     * Confirms the app being set up with a code from it: only the enrolment the page showed, within
     * TOTP_ENROLMENT_TTL_SECONDS of its start. The app is on, ten new recovery codes replace any old
     * ones (returned to be shown once), the person is told by mail.
     */
    async confirmTotp(person: Person, code: string, context: FactorContext & { enrolment: string }): Promise<({ ok: true; recoveryCodes: string[] }) | Exclude<FactorCheck, { ok: true }>> {
      const lock = await locked(person);
      if (lock && !lock.ok) return lock;
      const found = await store.findTotp(person.id);
      const pending = found && !found.confirmedAt && enrolling(found) && sameEnrolment(context.enrolment, enrolmentOf(found.sealedSecret)) ? found : undefined;
      const secret = pending ? box.open(pending.sealedSecret, sealContext(person.id)) : undefined;
      const step = secret === undefined ? undefined : stepOf(person, secret, code);
      if (step === undefined) return (await failed(person, "totp", "invalid_enrolment_code", context)) as Exclude<FactorCheck, { ok: true }>;
      const recoveryCodes = await db.transaction(async (tx) => {
        const stores = deps.stores(tx);
        if (!(await stores.secondFactors.confirmTotp(person.id, step, pending!.sealedSecret, enrolmentStart()))) return undefined;
        const codes = await newRecoveryCodes(stores, person.id);
        await notices.record(stores, { ...notice(person, context), change: "totp_enrolled", event: "mfa.totp_enrolled" });
        return codes;
      });
      if (!recoveryCodes) return (await failed(person, "totp", "not_enrolling", context)) as Exclude<FactorCheck, { ok: true }>;
      deps.onMailQueued?.();
      await lockout.recordSuccess(accountKey(person.email));
      return { ok: true, recoveryCodes };
    },

    /** Checks a code from the person's app; each code works once. */
    async verifyTotp(person: Person, code: string, context: FactorContext = {}): Promise<FactorCheck> {
      const lock = await locked(person);
      if (lock) return lock;
      const factor = await store.findTotp(person.id);
      const secret = factor?.confirmedAt ? box.open(factor.sealedSecret, sealContext(person.id)) : undefined;
      const step = secret === undefined ? undefined : stepOf(person, secret, code);
      if (step === undefined) return failed(person, "totp", "invalid_code", context);
      if (!(await store.advanceTotpStep(person.id, step))) return failed(person, "totp", "code_reused", context);
      // Sealed before a cookie key rotation: sealed again under the current key, while it is known.
      if (box.sealedByOldKey(factor!.sealedSecret)) await store.resealTotp(person.id, factor!.sealedSecret, box.seal(secret!, sealContext(person.id)));
      await lockout.recordSuccess(accountKey(person.email));
      await audit.record({ event: "sign_in.succeeded", actor: `user:${person.id}`, userId: person.id, email: person.email, ip: context.ip ?? null, userAgent: context.userAgent ?? null, clientId: context.clientId ?? null, details: { method: "totp" } });
      return { ok: true };
    },

    /** Uses one of the person's recovery codes: each works once, whoever tries it concurrently. */
    async useRecoveryCode(person: Person, code: string, context: FactorContext = {}): Promise<FactorCheck> {
      const lock = await locked(person);
      if (lock) return lock;
      if (!(await store.useRecoveryCode(person.id, recoveryCodeHash(code)))) return failed(person, "recovery_code", "invalid_code", context);
      await lockout.recordSuccess(accountKey(person.email));
      const left = await store.recoveryCodesLeft(person.id);
      await audit.record({ event: "mfa.recovery_code_used", actor: `user:${person.id}`, userId: person.id, email: person.email, ip: context.ip ?? null, userAgent: context.userAgent ?? null, clientId: context.clientId ?? null, details: { left } });
      return { ok: true };
    },

    /** Ten new recovery codes (shown once); the old ones stop working. */
    async regenerateRecoveryCodes(person: Person, context: FactorContext = {}): Promise<string[]> {
      const codes = await db.transaction(async (tx) => {
        const stores = deps.stores(tx);
        const codes = await newRecoveryCodes(stores, person.id);
        await notices.record(stores, { ...notice(person, context), change: "recovery_codes_regenerated", event: "mfa.recovery_codes_regenerated" });
        return codes;
      });
      deps.onMailQueued?.();
      return codes;
    },

    /** Removes the app and the recovery codes that go with it; whether there was an app. */
    async removeTotp(person: Person, context: FactorContext = {}): Promise<boolean> {
      const had = await db.transaction(async (tx) => {
        const stores = deps.stores(tx);
        const had = await stores.secondFactors.removeTotp(person.id);
        await stores.secondFactors.removeRecoveryCodes(person.id);
        if (had) await notices.record(stores, { ...notice(person, context), change: "totp_removed", event: "mfa.totp_removed" });
        return had;
      });
      if (had) deps.onMailQueued?.();
      return had;
    },
  };
  return api;
}

export type SecondFactors = ReturnType<typeof createSecondFactors>;

/**
 * The second factors' part of the operator's "reset factors" (accounts/operator.ts resetFactors:
 * `idp users reset-mfa`, the admin API and console), for a lost device: the app and recovery codes
 * go, audited (mfa.reset) and mailed in the operator's transaction when there was something to
 * remove. Passkeys are the passkeys module's own FactorReset.
 */
export function secondFactorReset(stores: (queryable: Queryable) => SecondFactorStores, notices: Pick<SecurityNotices, "record">): FactorReset {
  return {
    kind: "second_factors",
    async reset(tx, user, actor, actorDetails) {
      const scoped = stores(tx);
      const totp = await scoped.secondFactors.removeTotp(user.id);
      const recoveryCodes = await scoped.secondFactors.removeRecoveryCodes(user.id);
      if (!totp && recoveryCodes === 0) return 0;
      await notices.record(scoped, { user, actor, change: "mfa_reset", event: "mfa.reset", details: { ...actorDetails, totp, recovery_codes: recoveryCodes, others: 0 } });
      return { count: (totp ? 1 : 0) + recoveryCodes, details: { totp, recovery_codes: recoveryCodes } };
    },
  };
}
