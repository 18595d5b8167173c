// Passkeys (WebAuthn) with @simplewebauthn/server: the options a browser signs, and checking what
// it signed, for registration and sign-in. A sign-in always requires user verification (a PIN or
// biometrics), so a passkey alone is two factors (amr hwk|swk + user, acr phr). Failures on a
// known credential count toward the person's sign-in lockout; a counter that goes backwards (a
// cloned authenticator) is refused and audited. No HTTP here.
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  SettingsService,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from "@simplewebauthn/server";
import { COSEALG } from "@simplewebauthn/server/helpers";
import type { Database, Queryable } from "../db/database.ts";
import type { Stores } from "../store/stores.ts";
import type { StoredPasskey } from "../store/passkeys.ts";
import { accountKey, type Lockout } from "../abuse/lockout.ts";
import type { AuthenticationMethod } from "./authentication-methods.ts";
import type { SignInContext } from "./sign-in.ts";
import type { SecurityNotices } from "./security-notices.ts";
import type { FactorReset } from "./operator.ts";

/** How long a ceremony's challenge may be answered. */
export const CHALLENGE_TTL_SECONDS = 300;
/** The longest name a person may give a passkey. */
export const PASSKEY_NAME_MAX_LENGTH = 100;

/**
 * Every algorithm the library verifies, strongest first: ML-DSA (post-quantum, which Chromium's
 * authenticator may create) where this Node has it, EdDSA, ECDSA on P-256/384/521, RSA-PSS and
 * RSA PKCS#1. Not ES256K: the library has no secp256k1 verifier. RS1 (SHA-1) stays last: old
 * Windows Hello keys use it, and the library verifies it.
 */
export function supportedAlgorithms(): number[] {
  const postQuantum = SettingsService.runtimeSupportsPQC() ? [COSEALG.ML_DSA_87, COSEALG.ML_DSA_65, COSEALG.ML_DSA_44] : [];
  return [
    ...postQuantum,
    COSEALG.EdDSA,
    COSEALG.ES256,
    COSEALG.ES384,
    COSEALG.ES512,
    COSEALG.PS256,
    COSEALG.PS384,
    COSEALG.PS512,
    COSEALG.RS256,
    COSEALG.RS384,
    COSEALG.RS512,
    COSEALG.RS1,
  ];
}

export type PasskeySettings = {
  /** WEBAUTHN_RP_ID: the issuer's host name unless set. */
  rpId: string;
  /** The issuer's origin: where every ceremony must happen. */
  origin: string;
  /** The name authenticators show: BRAND_NAME. */
  rpName: string;
};

export type PasskeySignInFailure =
  | { ok: false; reason: "invalid" | "disabled" }
  | { ok: false; reason: "locked"; retryAfterSeconds: number };

export type PasskeySignInResult = { ok: true; userId: string; methods: AuthenticationMethod[]; passkey: StoredPasskey } | PasskeySignInFailure;

export type PasskeyDeps = {
  db: Database;
  stores: (queryable: Queryable) => Stores;
  lockout?: Lockout;
  settings: PasskeySettings;
  /** Mails "your sign-in methods changed" with the audit event when a passkey is added or removed. */
  notices?: SecurityNotices;
  now: () => Date;
};

/** The challenge a response signed, from its clientDataJSON; undefined when that is not readable. */
function signedChallenge(clientDataJSON: unknown): string | undefined {
  if (typeof clientDataJSON !== "string") return undefined;
  try {
    const data = JSON.parse(Buffer.from(clientDataJSON, "base64url").toString("utf8")) as { challenge?: unknown };
    return typeof data.challenge === "string" && /^[A-Za-z0-9_-]{16,128}$/.test(data.challenge) ? data.challenge : undefined;
  } catch {
    return undefined;
  }
}

/** The user handle a passkey carries: the person's id (the token `sub`), never their email. */
const userHandle = (userId: string) => Buffer.from(userId, "utf8");

/** hwk for a key bound to one device, swk for one that syncs (or was backed up) between devices. */
export function keyMethod(passkey: Pick<StoredPasskey, "deviceType" | "backedUp">): "hwk" | "swk" {
  return passkey.deviceType === "multiDevice" || passkey.backedUp ? "swk" : "hwk";
}

export function createPasskeys(deps: PasskeyDeps) {
  const { db, lockout, settings } = deps;
  const stores = deps.stores(db);
  const { passkeys, users, audit } = stores;
  const algorithms = supportedAlgorithms();

  /** The audit event and, where mail can go out, the "sign-in methods changed" mail, in the change's transaction. */
  async function notify(inTx: Stores, notice: Parameters<SecurityNotices["record"]>[1]): Promise<void> {
    if (deps.notices && notice.user.email) {
      await deps.notices.record(inTx, notice);
      return;
    }
    const { user, change, ...event } = notice;
    await inTx.audit.record({ ...event, userId: user.id, email: user.email || null, details: { ...event.details, change } });
  }

  async function hasPasskeys(userId: string): Promise<boolean> {
    return (await passkeys.listForUser(userId, settings.rpId)).length > 0;
  }

  /**
   * Options for a sign-in in this interaction. Without `userId` any discoverable passkey may answer
   * (passwordless); with it (a second factor after a first) only that person's passkeys.
   */
  async function authenticationOptions(input: { interactionUid: string; userId?: string }): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const allowCredentials = input.userId
      ? (await passkeys.listForUser(input.userId, settings.rpId)).map((passkey) => ({ id: passkey.id, transports: passkey.transports }))
      : undefined;
    const options = await generateAuthenticationOptions({ rpID: settings.rpId, allowCredentials, userVerification: "required", timeout: CHALLENGE_TTL_SECONDS * 1000 });
    await passkeys.issueChallenge(options.challenge, { purpose: "authentication", interactionUid: input.interactionUid, userId: input.userId ?? null }, CHALLENGE_TTL_SECONDS);
    return options;
  }

  /**
   * Checks a sign-in assertion made in this interaction. `expectedUserId`: the person of a first
   * factor, whom the passkey must belong to.
   */
  async function signIn(input: { interactionUid: string; response: AuthenticationResponseJSON; expectedUserId?: string; context?: SignInContext }): Promise<PasskeySignInResult> {
    const { response, context = {} } = input;
    const who = { ip: context.ip ?? null, userAgent: context.userAgent ?? null };
    const passkey = typeof response.id === "string" && response.id.length <= 1400 ? await passkeys.find(response.id) : undefined;
    const user = passkey && (await users.findById(passkey.userId));

    const failed = async (reason: string): Promise<PasskeySignInFailure> => {
      await audit.record({ event: "sign_in.failed", actor: "anonymous", userId: user?.id ?? null, email: user?.email ?? null, ...who, details: { method: "passkey", reason } });
      // Only a known person's lockout counts: an unknown credential names nobody.
      const outcome = user && (await lockout?.recordFailure(accountKey(user.email)));
      if (outcome?.locked) {
        if (outcome.created) {
          await audit.record({
            event: "account.locked",
            actor: "anonymous",
            userId: user!.id,
            email: user!.email,
            ...who,
            details: { reason: "too_many_failures", failures: outcome.failures, lockedForSeconds: outcome.lockedForSeconds, lockouts: outcome.lockouts },
          });
        }
        return { ok: false, reason: "locked", retryAfterSeconds: outcome.lockedForSeconds };
      }
      return { ok: false, reason: "invalid" };
    };

    if (user) {
      const lockedFor = await lockout?.lockedFor(accountKey(user.email));
      if (lockedFor !== undefined) {
        await audit.record({ event: "sign_in.failed", actor: "anonymous", userId: user.id, email: user.email, ...who, details: { method: "passkey", reason: "locked" } });
        return { ok: false, reason: "locked", retryAfterSeconds: lockedFor };
      }
    }
    // The challenge is used up whatever follows: an assertion can be tried once.
    const challenge = signedChallenge(response.response?.clientDataJSON);
    const issued = challenge && (await passkeys.consumeChallenge(challenge, { purpose: "authentication", interactionUid: input.interactionUid }));
    if (!challenge || !issued) return failed("unknown_challenge");
    if (!passkey || !user) return failed("unknown_credential");
    const expectedUserId = input.expectedUserId ?? issued.userId ?? undefined;
    if (expectedUserId !== undefined && passkey.userId !== expectedUserId) return failed("other_person");
    // A passkey made for another RP ID (WEBAUTHN_RP_ID changed since) cannot sign for this one.
    if (passkey.rpId !== settings.rpId) return failed("other_rp_id");
    if (response.response.userHandle && response.response.userHandle !== userHandle(user.id).toString("base64url")) return failed("user_handle_mismatch");

    let verified;
    try {
      // Counter 0 here: the library would refuse a regression before checking the signature; we
      // check it after, so only a genuine signature with a stale counter is reported as a clone.
      verified = await verifyAuthenticationResponse({
        response,
        expectedChallenge: challenge,
        expectedOrigin: settings.origin,
        expectedRPID: settings.rpId,
        credential: { id: passkey.id, publicKey: passkey.publicKey, counter: 0, transports: passkey.transports },
        requireUserVerification: true,
      });
    } catch {
      return failed("invalid_assertion");
    }
    const info = verified.authenticationInfo;
    if (!verified.verified || !info.userVerified) return failed("invalid_assertion");

    const regressed = (info.newCounter > 0 || passkey.counter > 0) && info.newCounter <= passkey.counter;
    if (regressed || !(await passkeys.recordUse({ id: passkey.id, counter: info.newCounter, backedUp: info.credentialBackedUp }))) {
      await audit.record({
        event: "passkey.counter_regressed",
        actor: "anonymous",
        userId: user.id,
        email: user.email,
        ...who,
        details: { passkey: passkey.name, stored: passkey.counter, presented: info.newCounter },
      });
      return failed("counter_regressed");
    }
    if (user.disabled) {
      await audit.record({ event: "sign_in.failed", actor: "anonymous", userId: user.id, email: user.email, ...who, details: { method: "passkey", reason: "disabled" } });
      return { ok: false, reason: "disabled" };
    }
    await lockout?.recordSuccess(accountKey(user.email));
    const used = { ...passkey, backedUp: info.credentialBackedUp };
    await audit.record({ event: "sign_in.succeeded", actor: `user:${user.id}`, userId: user.id, email: user.email, ...who, details: { method: "passkey", key: keyMethod(used) } });
    return { ok: true, userId: user.id, methods: [keyMethod(used), "user"], passkey: used };
  }

  /** Options to create a passkey for this signed-in person (discoverable, user-verifying). */
  async function registrationOptions(userId: string): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const user = await users.findById(userId);
    if (!user) throw new Error("no such user");
    const existing = await passkeys.listForUser(userId, settings.rpId);
    const options = await generateRegistrationOptions({
      rpName: settings.rpName,
      rpID: settings.rpId,
      userName: user.email,
      userDisplayName: user.name ?? user.email,
      userID: userHandle(user.id),
      timeout: CHALLENGE_TTL_SECONDS * 1000,
      attestationType: "none",
      excludeCredentials: existing.map((passkey) => ({ id: passkey.id, transports: passkey.transports })),
      authenticatorSelection: { residentKey: "required", requireResidentKey: true, userVerification: "required" },
      supportedAlgorithmIDs: algorithms,
    });
    await passkeys.issueChallenge(options.challenge, { purpose: "registration", interactionUid: null, userId }, CHALLENGE_TTL_SECONDS);
    return options;
  }

  /** Verifies a new passkey for this person and stores it, audited in the same transaction. */
  async function register(input: { userId: string; response: RegistrationResponseJSON; name: string; context?: SignInContext; locale?: string }): Promise<{ ok: true; passkey: StoredPasskey } | { ok: false; reason: "invalid" | "exists" }> {
    const { userId, response, context = {} } = input;
    const challenge = signedChallenge(response.response?.clientDataJSON);
    const issued = challenge && (await passkeys.consumeChallenge(challenge, { purpose: "registration", interactionUid: null }));
    if (!challenge || !issued || issued.userId !== userId) return { ok: false, reason: "invalid" };
    let verified;
    try {
      verified = await verifyRegistrationResponse({
        response,
        expectedChallenge: challenge,
        expectedOrigin: settings.origin,
        expectedRPID: settings.rpId,
        requireUserVerification: true,
        supportedAlgorithmIDs: algorithms,
      });
    } catch {
      return { ok: false, reason: "invalid" };
    }
    if (!verified.verified) return { ok: false, reason: "invalid" };
    const info = verified.registrationInfo;
    if (await passkeys.find(info.credential.id)) return { ok: false, reason: "exists" };
    const name = input.name.trim().slice(0, PASSKEY_NAME_MAX_LENGTH) || "Passkey";
    const passkey = await db.transaction(async (tx) => {
      const inTx = deps.stores(tx);
      const user = await inTx.users.findById(userId);
      const added = await inTx.passkeys.add({
        id: info.credential.id,
        userId,
        publicKey: info.credential.publicKey,
        counter: info.credential.counter,
        transports: info.credential.transports ?? [],
        rpId: settings.rpId,
        aaguid: info.aaguid,
        deviceType: info.credentialDeviceType,
        backedUp: info.credentialBackedUp,
        name,
      });
      await notify(inTx, {
        user: { id: userId, email: user?.email ?? "" },
        change: "passkey_added",
        event: "passkey.added",
        actor: `user:${userId}`,
        ip: context.ip ?? null,
        userAgent: context.userAgent ?? null,
        locale: input.locale,
        details: { passkey: name, key: keyMethod(added), aaguid: info.aaguid },
      });
      return added;
    });
    return { ok: true, passkey };
  }

  /** Renames one of this person's passkeys (audited). */
  async function rename(userId: string, id: string, name: string, context: SignInContext = {}): Promise<boolean> {
    const trimmed = name.trim().slice(0, PASSKEY_NAME_MAX_LENGTH);
    if (!trimmed) return false;
    return db.transaction(async (tx) => {
      const inTx = deps.stores(tx);
      if (!(await inTx.passkeys.rename(userId, id, trimmed))) return false;
      await inTx.audit.record({ event: "passkey.renamed", actor: `user:${userId}`, userId, ip: context.ip ?? null, userAgent: context.userAgent ?? null, details: { passkey: trimmed } });
      return true;
    });
  }

  /** Removes one of this person's passkeys (audited); the caller decides whether it may go. */
  async function remove(userId: string, id: string, context: SignInContext & { locale?: string } = {}): Promise<boolean> {
    return db.transaction(async (tx) => {
      const inTx = deps.stores(tx);
      const removed = await inTx.passkeys.remove(userId, id);
      if (!removed) return false;
      const user = await inTx.users.findById(userId);
      await notify(inTx, {
        user: { id: userId, email: user?.email ?? "" },
        change: "passkey_removed",
        event: "passkey.removed",
        actor: `user:${userId}`,
        ip: context.ip ?? null,
        userAgent: context.userAgent ?? null,
        locale: context.locale,
        details: { passkey: removed.name },
      });
      return true;
    });
  }

  return {
    settings,
    hasPasskeys,
    list: (userId: string) => passkeys.listForUser(userId),
    authenticationOptions,
    signIn,
    registrationOptions,
    register,
    rename,
    remove,
  };
}

export type Passkeys = ReturnType<typeof createPasskeys>;

/**
 * The passkeys' part of the operator's "reset factors" (a lost device takes its passkeys with it):
 * they go, audited (passkey.removed) and mailed in the operator's transaction when there were any.
 */
export function passkeyReset(stores: (queryable: Queryable) => Pick<Stores, "passkeys" | "audit" | "outbox" | "users">, notices: Pick<SecurityNotices, "record">): FactorReset {
  return {
    kind: "passkeys",
    async reset(tx, user, actor, actorDetails) {
      const scoped = stores(tx);
      const removed = await scoped.passkeys.removeAllForUser(user.id);
      if (removed > 0) await notices.record(scoped, { user, actor, change: "passkey_removed", event: "passkey.removed", details: { ...actorDetails, count: removed } });
      return removed;
    },
  };
}
