// The passkey functions (idp/accounts/passkeys.ts) over a real PostgreSQL, with a software
// authenticator and an injected clock: a synced passkey that always sends counter 0 signs in
// again and again (swk); a challenge is single-use even under 20 concurrent uses of one assertion,
// lasts 5 minutes, and works only in the interaction it was issued for; as a second factor only
// the first factor's person's passkeys are offered and accepted; a passkey made for another RP ID
// is refused; registration is bound to the signed-in person and needs user verification; every
// algorithm the library verifies is offered.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPasskeys, supportedAlgorithms, CHALLENGE_TTL_SECONDS, type Passkeys } from "../../idp/accounts/passkeys.ts";
import { createLockout } from "../../idp/abuse/lockout.ts";
import { createPostgresRateLimitStore } from "../../idp/store/rate-limits.ts";
import { storesOver } from "../../idp/store/stores.ts";
import { createPostgresTestDatabase, type TestDatabase } from "../support/database.ts";
import { SoftwareAuthenticator } from "../support/software-authenticator.ts";

const ORIGIN = "https://auth.example.com";
const SETTINGS = { rpId: "auth.example.com", origin: ORIGIN, rpName: "Acme" };

let database: TestDatabase;
let clock = new Date("2026-11-30T00:00:00Z");
const now = () => clock;
let passkeys: Passkeys;
let people = 0;

beforeAll(async () => {
  database = await createPostgresTestDatabase();
  const lockout = createLockout(createPostgresRateLimitStore(database.db, now), { threshold: 5, failureWindowSeconds: 900, durationSeconds: 60, maxDurationSeconds: 3600, delayMaxMs: 0 }, now);
  passkeys = createPasskeys({ db: database.db, stores: (queryable) => storesOver(queryable, now), lockout, settings: SETTINGS, now });
}, 60_000);
afterAll(async () => {
  await database?.destroy();
});

async function newPerson() {
  const user = await storesOver(database.db, now).users.create({ email: `soft${++people}@example.com` });
  return user;
}

async function withPasskey(options: ConstructorParameters<typeof SoftwareAuthenticator>[1] = {}) {
  const person = await newPerson();
  const authenticator = new SoftwareAuthenticator(ORIGIN, options);
  const result = await passkeys.register({ userId: person.id, response: authenticator.register(await passkeys.registrationOptions(person.id)), name: "Phone" });
  expect(result).toMatchObject({ ok: true });
  return { person, authenticator };
}

async function assertion(authenticator: SoftwareAuthenticator, interactionUid: string, userId?: string) {
  return authenticator.assert(await passkeys.authenticationOptions({ interactionUid, userId }));
}

describe("passkeys", () => {
  it("offers every algorithm the library verifies, ML-DSA and EdDSA included, and requires a discoverable, user-verifying key", async () => {
    const person = await newPerson();
    const options = await passkeys.registrationOptions(person.id);
    expect(options.pubKeyCredParams.map((param) => param.alg)).toEqual(supportedAlgorithms());
    expect(supportedAlgorithms()).toEqual(expect.arrayContaining([-48, -49, -50, -8, -7, -35, -36, -37, -257]));
    expect(options.authenticatorSelection).toMatchObject({ residentKey: "required", userVerification: "required" });
    expect(options.rp).toEqual({ id: "auth.example.com", name: "Acme" });
    // The user handle is the person's id (the token sub), never the email.
    expect(Buffer.from(options.user.id, "base64url").toString()).toBe(person.id);
  });

  it("signs in with a synced passkey that always sends counter 0, again and again, as swk", async () => {
    const { person, authenticator } = await withPasskey({ synced: true });
    for (const uid of ["sync-1", "sync-2", "sync-3"]) {
      const result = await passkeys.signIn({ interactionUid: uid, response: await assertion(authenticator, uid) });
      expect(result).toMatchObject({ ok: true, userId: person.id, methods: ["swk", "user"] });
    }
  });

  it("lets exactly one of 20 concurrent uses of an assertion in", async () => {
    const { authenticator } = await withPasskey();
    const response = await assertion(authenticator, "race");
    const results = await Promise.all(Array.from({ length: 20 }, () => passkeys.signIn({ interactionUid: "race", response })));
    expect(results.filter((result) => result.ok)).toHaveLength(1);
  });

  it("keeps a challenge 5 minutes, and only for the interaction it was issued in", async () => {
    const { authenticator } = await withPasskey();
    const late = await assertion(authenticator, "slow");
    clock = new Date(clock.getTime() + (CHALLENGE_TTL_SECONDS + 1) * 1000);
    expect(await passkeys.signIn({ interactionUid: "slow", response: late })).toEqual({ ok: false, reason: "invalid" });
    const elsewhere = await assertion(authenticator, "first-tab");
    expect(await passkeys.signIn({ interactionUid: "second-tab", response: elsewhere })).toEqual({ ok: false, reason: "invalid" });
    clock = new Date(clock.getTime() + (CHALLENGE_TTL_SECONDS - 1) * 1000);
    expect(await passkeys.signIn({ interactionUid: "first-tab", response: elsewhere })).toMatchObject({ ok: true });
  });

  it("as a second factor, offers only the first factor's person's passkeys and refuses anyone else's", async () => {
    const alice = await withPasskey();
    const mallory = await withPasskey();
    const options = await passkeys.authenticationOptions({ interactionUid: "mfa-1", userId: alice.person.id });
    expect(options.allowCredentials).toEqual([{ id: alice.authenticator.id, type: "public-key", transports: ["internal"] }]);
    // Mallory answers Alice's second-factor challenge with her own passkey.
    expect(await passkeys.signIn({ interactionUid: "mfa-1", response: mallory.authenticator.assert(options) })).toEqual({ ok: false, reason: "invalid" });
    const again = await passkeys.authenticationOptions({ interactionUid: "mfa-2", userId: alice.person.id });
    expect(await passkeys.signIn({ interactionUid: "mfa-2", response: alice.authenticator.assert(again), expectedUserId: alice.person.id })).toMatchObject({
      ok: true,
      methods: ["hwk", "user"],
    });
    expect(await passkeys.hasPasskeys(alice.person.id)).toBe(true);
    expect(await passkeys.hasPasskeys((await newPerson()).id)).toBe(false);
  });

  it("refuses a passkey made for another RP ID (WEBAUTHN_RP_ID changed since)", async () => {
    const { person, authenticator } = await withPasskey();
    const moved = createPasskeys({ db: database.db, stores: (queryable) => storesOver(queryable, now), settings: { ...SETTINGS, rpId: "example.com" }, now });
    const options = await moved.authenticationOptions({ interactionUid: "moved" });
    expect(await moved.signIn({ interactionUid: "moved", response: authenticator.assert(options) })).toEqual({ ok: false, reason: "invalid" });
    expect(await moved.hasPasskeys(person.id)).toBe(false);
  });

  it("registers only for the person the challenge was issued to, and only with user verification", async () => {
    const alice = await newPerson();
    const bob = await newPerson();
    const forAlice = await passkeys.registrationOptions(alice.id);
    expect(await passkeys.register({ userId: bob.id, response: new SoftwareAuthenticator(ORIGIN).register(forAlice), name: "Stolen" })).toEqual({ ok: false, reason: "invalid" });
    const careless = new SoftwareAuthenticator(ORIGIN, { userVerified: false });
    expect(await passkeys.register({ userId: alice.id, response: careless.register(await passkeys.registrationOptions(alice.id)), name: "No PIN" })).toEqual({
      ok: false,
      reason: "invalid",
    });
    expect(await passkeys.list(alice.id)).toEqual([]);
  });

  it("renames and removes a person's own passkeys only, audited", async () => {
    const { person, authenticator } = await withPasskey();
    const other = await newPerson();
    expect(await passkeys.rename(other.id, authenticator.id, "Mine now")).toBe(false);
    expect(await passkeys.rename(person.id, authenticator.id, "  Work phone  ")).toBe(true);
    expect((await passkeys.list(person.id)).map((passkey) => passkey.name)).toEqual(["Work phone"]);
    expect(await passkeys.remove(other.id, authenticator.id)).toBe(false);
    expect(await passkeys.remove(person.id, authenticator.id)).toBe(true);
    const { rows } = await database.db.query<{ event: string }>("SELECT event FROM audit_events WHERE user_id = $1 ORDER BY id", [person.id]);
    expect(rows.map((row) => row.event)).toEqual(["passkey.added", "passkey.renamed", "passkey.removed"]);
  });
});
