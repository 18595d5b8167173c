// The one test that measures time: with the default argon2 parameters on a listening IdP, an unknown
// email and a wrong password for a real account take the same time to answer (medians within 10%
// over 60 alternating trials each), with the lockout's counting and the audit trail in the path.
// The limits are set high and the progressive delay off, so nothing is limited or delayed.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { REDIRECT_URI } from "../support/oidc-flow.ts";
import { LoginSession } from "./helpers.ts";

const TRIALS = 60;
const WARM_UP = 4;

let idp: TestIdp;
beforeAll(async () => {
  idp = await startTestIdp({
    env: {
      LOCKOUT_THRESHOLD: "100000",
      SIGN_IN_DELAY_MAX_MS: "0",
      SIGN_IN_LIMIT_PER_IP: "100000",
      SIGN_IN_LIMIT_PER_ACCOUNT: "100000",
      REQUEST_LIMIT_PER_IP: "100000",
    },
  });
  expect(idp.config.argon2MemoryKib).toBe(19456); // the defaults, not test-cheap hashing
  await idp.admin.addUser({ email: "alice@example.com", password: "correct horse battery" });
  await idp.admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
});
afterAll(async () => idp?.close());

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length / 2;
  return sorted.length % 2 ? sorted[Math.floor(middle)]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

describe("timing", () => {
  it("answers an unknown email and a wrong password in the same time", { timeout: 120_000 }, async () => {
    const known = await LoginSession.open(idp);
    const unknown = await LoginSession.open(idp);
    const times = { wrongPassword: [] as number[], unknownEmail: [] as number[] };
    for (let i = 0; i < WARM_UP + TRIALS; i++) {
      // Each trial sends the two at the same moment, alternating which goes first, so both meet
      // the same load on the machine (other test files run in parallel); a path doing less work
      // (no argon2 for an unknown email, say) would still answer much sooner.
      const post = (which: "known" | "unknown") =>
        which === "known" ? known.post("alice@example.com", `wrong password ${i}`) : unknown.post("nobody@example.com", `wrong password ${i}`);
      const order = i % 2 ? (["known", "unknown"] as const) : (["unknown", "known"] as const);
      const replies = await Promise.all(order.map(post));
      for (const [index, which] of order.entries()) {
        const reply = replies[index]!;
        expect(reply.status).toBe(401);
        if (i >= WARM_UP) (which === "known" ? times.wrongPassword : times.unknownEmail).push(reply.ms);
      }
    }
    const wrongPassword = median(times.wrongPassword);
    const unknownEmail = median(times.unknownEmail);
    const difference = Math.abs(wrongPassword - unknownEmail) / Math.min(wrongPassword, unknownEmail);
    console.log(
      `sign-in timing over ${TRIALS} trials each: median wrong password ${wrongPassword.toFixed(1)} ms, ` +
        `unknown email ${unknownEmail.toFixed(1)} ms, difference ${(difference * 100).toFixed(1)}%`,
    );
    expect(difference).toBeLessThan(0.1);
  });
});
