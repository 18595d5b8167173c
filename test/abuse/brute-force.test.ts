// Brute-force lockout end to end, on a listening IdP with its counters in PostgreSQL and in Redis:
// a burst of wrong passwords locks the email for the configured time, the right password is refused
// while locked and works once the (injected) clock has passed the lock, other people are unaffected,
// an unknown email gets byte-for-byte the same answers, and `idp users unlock` ends a lock at once.
import { afterAll, beforeAll, beforeEach, expect, it } from "vitest";
import { buildApp } from "../../idp/app.ts";
import { loadKeyMaterial } from "../../idp/keys/key-material.ts";
import { createAuditStore } from "../../idp/store/audit.ts";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { REDIRECT_URI } from "../support/oidc-flow.ts";
import { describeEach } from "../support/redis.ts";
import { clearRedisKeys, comparable, LoginSession, redisUrl, runCli, signedIn, type Reply } from "./helpers.ts";

const alice = { email: "alice@example.com", password: "correct horse battery" };
const bob = { email: "bob@example.com", password: "bob's long password" };
// Same length as alice's, so even Content-Length must match.
const ghost = { email: "ghost@example.com", password: "correct horse battery" };
const LOCK = 900;

const counterBackends = [
  { name: "PostgreSQL", env: {} as Record<string, string> },
  { name: "Redis", env: { REDIS_URL: redisUrl } as Record<string, string> },
];

describeEach(counterBackends, "brute-force lockout with counters in $name", ({ env }) => {
  let idp: TestIdp;
  let offsetMs = 0;
  const now = () => new Date(Date.UTC(2031, 0, 1) + offsetMs);

  beforeAll(async () => {
    idp = await startTestIdp({
      now,
      env: {
        ...env,
        // The defaults for the lockout itself; the rate limits out of the way (tested elsewhere).
        LOCKOUT_THRESHOLD: "5",
        LOCKOUT_DURATION: String(LOCK),
        LOCKOUT_MAX_DURATION: "3600",
        SIGN_IN_LIMIT_PER_IP: "1000",
        SIGN_IN_LIMIT_PER_ACCOUNT: "1000",
        REQUEST_LIMIT_PER_IP: "100000",
      },
    });
    if (idp.config.redisUrl) await clearRedisKeys(idp.issuer);
    await idp.admin.addUser(alice);
    await idp.admin.addUser(bob);
    await idp.admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
  });
  afterAll(async () => {
    if (idp?.config.redisUrl) await clearRedisKeys(idp.issuer);
    await idp?.close();
  });
  beforeEach(() => {
    offsetMs += 24 * 3600 * 1000 + 1; // every test starts after all earlier locks and their history
  });

  /** Five wrong passwords: four plain failures, then the lock. */
  async function burst(session: LoginSession, email: string): Promise<Reply[]> {
    const replies: Reply[] = [];
    for (let i = 0; i < 5; i++) replies.push(await session.post(email, `wrong password ${i}`));
    return replies;
  }

  it("locks an email after 5 wrong passwords, refuses the right one while locked, and lets it in after the lock", async () => {
    const session = await LoginSession.open(idp);
    const replies = await burst(session, alice.email);
    for (const reply of replies.slice(0, 4)) {
      expect(reply.status).toBe(401);
      expect(reply.html).toContain("Incorrect email or password.");
      expect(reply.headers.get("retry-after")).toBeNull();
    }
    const locked = replies[4]!;
    expect(locked.status).toBe(429);
    expect(locked.headers.get("retry-after")).toBe(String(LOCK));
    expect(locked.html).toContain("Sign-in is paused: try again in 15 minutes");
    expect(locked.html).toContain(`value="${alice.email}"`);

    offsetMs += 600_000; // ten minutes into the lock
    const right = await session.post(alice.email, alice.password);
    expect(right.status).toBe(429);
    expect(right.headers.get("retry-after")).toBe(String(LOCK - 600));
    expect(signedIn(right)).toBe(false);

    // Another person signs in meanwhile, from the same address.
    const other = await LoginSession.open(idp);
    expect(signedIn(await other.post(bob.email, bob.password))).toBe(true);

    offsetMs += (LOCK - 600) * 1000; // the lock has run out (and with it this sign-in page)
    expect(signedIn(await (await LoginSession.open(idp)).post(alice.email, alice.password))).toBe(true);
  });

  it("counts an email however it is typed (case, spaces), and a success forgets earlier failures", async () => {
    const session = await LoginSession.open(idp);
    for (const typed of ["Alice@Example.com", " ALICE@example.COM ", "alice@example.com", "aLiCe@example.com"]) {
      expect((await session.post(typed, "nope nope nope")).status).toBe(401);
    }
    expect(signedIn(await session.post(alice.email, alice.password))).toBe(true);
    // The four failures are gone: four more still do not lock.
    const again = await LoginSession.open(idp);
    for (let i = 0; i < 4; i++) expect((await again.post(alice.email, "nope nope nope")).status).toBe(401);
    expect((await again.post(" Alice@EXAMPLE.com", "nope nope nope")).status).toBe(429);
  });

  it("answers an unknown email exactly as a registered one: status, headers, cookies, page, Retry-After", async () => {
    const real = await LoginSession.open(idp);
    const unknown = await LoginSession.open(idp);
    const realReplies = await burst(real, alice.email);
    const unknownReplies = await burst(unknown, ghost.email);
    realReplies.push(await real.post(alice.email, alice.password));
    unknownReplies.push(await unknown.post(ghost.email, ghost.password));
    expect(realReplies.map((reply) => reply.status)).toEqual([401, 401, 401, 401, 429, 429]);
    for (const [index, reply] of realReplies.entries()) {
      expect(comparable(unknownReplies[index]!, ghost.email), `attempt ${index + 1}`).toEqual(comparable(reply, alice.email));
    }
  });

  it("grows a repeated lock (15, 30, 60 minutes) and never past the maximum", async () => {
    for (const expected of [900, 1800, 3600, 3600]) {
      const replies = await burst(await LoginSession.open(idp), alice.email);
      expect(replies[4]!.headers.get("retry-after")).toBe(String(expected));
      offsetMs += expected * 1000;
    }
    expect(signedIn(await (await LoginSession.open(idp)).post(alice.email, alice.password))).toBe(true);
  });

  it("records who tried, from where, and why, in the audit trail, never the password", async () => {
    const session = await LoginSession.open(idp);
    const replies = await burst(session, "Alice@Example.com");
    expect(replies[4]!.status).toBe(429);
    await session.post("Alice@Example.com", alice.password);
    const events = await createAuditStore(idp.database.db).list({ email: alice.email, since: now() });
    const summary = events.map((event) => [event.event, event.actor, event.details.reason]);
    expect(summary).toEqual([
      ...Array(5).fill(["sign_in.failed", "anonymous", "invalid_credentials"]),
      ["account.locked", "anonymous", "too_many_failures"],
      ["sign_in.failed", "anonymous", "locked"],
    ]);
    for (const event of events) {
      expect(event).toMatchObject({ email: "Alice@Example.com", ip: "127.0.0.1", userAgent: expect.any(String) });
    }
    expect(events[5]!.details).toMatchObject({ lockedForSeconds: LOCK, failures: 5 });
    expect(JSON.stringify(events)).not.toContain("wrong password");
    expect(JSON.stringify(events)).not.toContain(alice.password);

    offsetMs += LOCK * 1000;
    expect(signedIn(await (await LoginSession.open(idp)).post(alice.email, alice.password))).toBe(true);
    const [success] = (await createAuditStore(idp.database.db).list({ email: alice.email, since: now() })).slice(-1);
    expect(success).toMatchObject({ event: "sign_in.succeeded", actor: expect.stringMatching(/^user:/), email: alice.email });
  });

  it("shares a lock between two IdP instances on the same counters", async () => {
    const second = await buildApp({ config: idp.config, db: idp.database.db, keys: await loadKeyMaterial(idp.config), now, logger: false });
    try {
      const secondOrigin = await second.listen({ port: 0, host: "127.0.0.1" });
      // Locked through the first instance...
      await burst(await LoginSession.open(idp), alice.email);
      // ...the second, which has never seen alice fail, refuses her right password too.
      const session = await LoginSession.open(idp);
      const reply = await session.post(alice.email, alice.password, secondOrigin);
      expect(reply.status).toBe(429);
      expect(reply.headers.get("retry-after")).toBe(String(LOCK));
      // And the reverse: failures through the second count on the first.
      const next = await LoginSession.open(idp);
      for (let i = 0; i < 4; i++) expect((await next.post(bob.email, "wrong", secondOrigin)).status).toBe(401);
      expect((await next.post(bob.email, "wrong")).status).toBe(429);
    } finally {
      await second.close();
    }
  });

  it("ends a lock at once with `idp users unlock`, for a registered and an unknown email, and audits it", async () => {
    const session = await LoginSession.open(idp);
    await burst(session, alice.email);
    const unknown = await LoginSession.open(idp);
    await burst(unknown, ghost.email);
    expect((await session.post(alice.email, alice.password)).status).toBe(429);

    const result = await runCli(idp, ["users", "unlock", "ALICE@example.com"]);
    expect(result, result.stderr).toMatchObject({ status: 0, stdout: "unlocked ALICE@example.com\n" });
    expect(signedIn(await session.post(alice.email, alice.password))).toBe(true);

    expect((await unknown.post(ghost.email, "still wrong")).status).toBe(429);
    expect((await runCli(idp, ["users", "unlock", ghost.email])).stdout).toBe(`unlocked ${ghost.email}\n`);
    expect((await unknown.post(ghost.email, "still wrong")).status).toBe(401);
    expect((await runCli(idp, ["users", "unlock", "carol@example.com"])).stdout).toBe("carol@example.com was not locked; its failed sign-ins are forgotten\n");

    // The CLI records with its own (real) clock, so no `since` from the test's clock here.
    const unlocked = (await createAuditStore(idp.database.db).list()).filter((event) => event.event === "account.unlocked");
    expect(unlocked.map((event) => [event.actor, event.email, event.details.wasLocked])).toEqual([
      ["cli", "ALICE@example.com", true],
      ["cli", ghost.email, true],
      ["cli", "carol@example.com", false],
    ]);
  });
});
