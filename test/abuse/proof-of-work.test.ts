// The sign-up proof of work on the server, solved here with altcha-lib's own solver: a solution
// is accepted once across two instances sharing the real PostgreSQL counters; a missing one passes
// counted double; a forged, altered, expired, malformed or replayed one is refused; a challenge
// signed before a cookie key rotation still verifies.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { solveChallenge, type Challenge } from "altcha-lib";
import { deriveKey } from "altcha-lib/algorithms/pbkdf2";
import { createProofOfWork, type ProofOfWork } from "../../idp/abuse/proof-of-work.ts";
import { createSignUpGuard, SIGN_UP_FIELD_NAMES, type SignUpGuard } from "../../idp/abuse/sign-up-guard.ts";
import { createDomainBlockList } from "../../idp/abuse/disposable-domains.ts";
import { storeBackends, type StoreBackend } from "./store-backends.ts";

// Near the real time: altcha-lib checks a challenge's expiry against the system clock as well.
let offsetMs = 0;
const now = () => new Date(Date.now() + offsetMs);
const EASY = { cost: 10, minCounter: 5, maxCounter: 20 };
const TTL = 600;

let backend: StoreBackend;
let instances: [SignUpGuard, SignUpGuard];

function guardOn(index: 0 | 1, cookieKeys = ["cookie-key-one"]): SignUpGuard {
  const verifier: ProofOfWork = createProofOfWork({ cookieKeys, store: backend.stores[index], now, ttlSeconds: TTL, difficulty: EASY });
  return createSignUpGuard({
    cookieKeys,
    now,
    minFormAgeSeconds: 0,
    maxFormAgeSeconds: TTL,
    disposableDomains: createDomainBlockList([]),
    proofOfWork: { verifier, widget: { scriptHref: "/assets/altcha.js?v=x", challengeUrl: "/sign-up/challenge" } },
  });
}

/** What the widget posts: the challenge (without its code challenge) and the solution, as base64 JSON. */
async function solved(guard: SignUpGuard, alter?: (payload: { challenge: Challenge; solution: { counter: number; derivedKey: string } }) => void) {
  const challenge = (await guard.challenge()) as Challenge;
  const solution = await solveChallenge({ challenge, deriveKey });
  const payload = { challenge: { parameters: challenge.parameters, signature: challenge.signature }, solution: { counter: solution!.counter, derivedKey: solution!.derivedKey } };
  alter?.(payload as never);
  return Buffer.from(JSON.stringify(payload)).toString("base64");
}

function form(guard: SignUpGuard, solution?: unknown) {
  const fields = guard.formFields();
  return { [fields.stamp.name]: fields.stamp.value, ...(solution !== undefined && { [SIGN_UP_FIELD_NAMES.proofOfWork]: solution }) };
}

beforeAll(async () => {
  backend = await storeBackends.find((candidate) => candidate.name === "PostgreSQL")!.open(now);
  instances = [guardOn(0), guardOn(1)];
});
afterAll(async () => {
  await backend?.close();
});

describe("the sign-up proof of work", () => {
  it("puts the widget in the form, with the challenge URL and the script", () => {
    expect(instances[0].formFields().proofOfWork).toEqual({ name: "altcha", challengeUrl: "/sign-up/challenge", scriptHref: "/assets/altcha.js?v=x" });
  });

  it("issues signed PBKDF2 challenges that expire with the form", async () => {
    const challenge = (await instances[0].challenge()) as Challenge;
    expect(challenge.parameters).toMatchObject({ algorithm: "PBKDF2/SHA-256", cost: EASY.cost });
    expect(challenge.parameters.expiresAt).toBe(Math.floor((now().getTime() + TTL * 1000) / 1000));
    expect(challenge.signature).toMatch(/^[0-9a-f]{64}$/);
    expect(challenge.parameters.keySignature).toMatch(/^[0-9a-f]{64}$/);
  });

  it("accepts a solution once, whichever instance sees it first", async () => {
    const [one, two] = instances;
    const payload = await solved(one);
    expect(await two.check(form(two, payload), "ada@example.com")).toEqual({ ok: true, limitWeight: 1 });
    expect(await one.check(form(one, payload), "ada@example.com")).toEqual({ ok: false, reason: "proof_of_work" });
    expect(await two.check(form(two, payload), "ada@example.com")).toEqual({ ok: false, reason: "proof_of_work" });
  });

  it("lets a form without a solution through, counted double", async () => {
    expect(await instances[0].check(form(instances[0]), "ada@example.com")).toEqual({ ok: true, limitWeight: 2 });
    expect(await instances[0].check(form(instances[0], ""), "ada@example.com")).toEqual({ ok: true, limitWeight: 2 });
  });

  it("refuses an altered solution or challenge, and garbage", async () => {
    const guard = instances[0];
    // (The key found is what proves the work, checked against the challenge's signature of it; the counter it was found at is not.)
    const wrongKey = await solved(guard, (payload) => (payload.solution.derivedKey = "00".repeat(32)));
    const easier = await solved(guard, (payload) => (payload.challenge.parameters.cost = 1));
    const later = await solved(guard, (payload) => (payload.challenge.parameters.expiresAt! += 3600));
    const unsigned = await solved(guard, (payload) => delete payload.challenge.signature);
    const garbage = ["x", "e30=", Buffer.from('{"challenge":{},"solution":{}}').toString("base64"), "A".repeat(5000), 42, ["a", "b"]];
    for (const payload of [wrongKey, easier, later, unsigned, ...garbage]) {
      expect(await guard.check(form(guard, payload), "ada@example.com"), String(payload).slice(0, 60)).toEqual({ ok: false, reason: "proof_of_work" });
    }
  });

  it("refuses a challenge signed with another key, and one past its expiry", async () => {
    const stranger = guardOn(0, ["someone-elses-key"]);
    const forged = await solved(stranger);
    expect(await instances[0].check(form(instances[0], forged), "ada@example.com")).toEqual({ ok: false, reason: "proof_of_work" });

    const payload = await solved(instances[0]);
    offsetMs += (TTL - 1) * 1000;
    const fresh = form(instances[0], payload); // a form rendered just now, with a solution from ten minutes ago
    offsetMs += 1000;
    try {
      expect(await instances[0].check(fresh, "ada@example.com")).toEqual({ ok: false, reason: "proof_of_work" });
    } finally {
      offsetMs = 0;
    }
  });

  it("verifies challenges issued before a cookie key rotation", async () => {
    const payload = await solved(guardOn(0, ["old-key"]));
    const rotated = guardOn(1, ["new-key", "old-key"]);
    expect(await rotated.check(form(rotated, payload), "ada@example.com")).toEqual({ ok: true, limitWeight: 1 });
  });
});
