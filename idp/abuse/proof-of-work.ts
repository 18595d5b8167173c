// Proof of work for the sign-up form, with ALTCHA (altcha-lib): signed challenges that a browser
// solves in the background, and the check of a solution, each accepted once by all instances
// together (remembered in the shared RateLimitStore until its challenge expires).
import { hkdfSync, randomInt } from "node:crypto";
import { createChallenge, verifySolution, type Challenge } from "altcha-lib";
import { deriveKey } from "altcha-lib/algorithms/pbkdf2";
import type { RateLimitStore } from "../store/rate-limits.ts";

/** PBKDF2 runs natively in every browser's WebCrypto, so the widget needs no WebAssembly. */
export const PROOF_OF_WORK_ALGORITHM = "PBKDF2/SHA-256";

/**
 * The work of one challenge: the browser derives a PBKDF2 key of `cost` iterations for counters
 * 0, 1, 2, ... until it finds the one the server picked, at random in [minCounter, maxCounter]. The
 * server derives one key per challenge and checks a solution with one HMAC.
 */
export type ProofOfWorkDifficulty = { cost: number; minCounter: number; maxCounter: number };

/** About 3.5 million PBKDF2-SHA-256 iterations on average: well under a second on a laptop, a few on an old phone. */
export const DEFAULT_DIFFICULTY: ProofOfWorkDifficulty = { cost: 1000, minCounter: 2000, maxCounter: 5000 };

/** The most a submitted solution may weigh (a real one is about 600 characters). */
const MAX_PAYLOAD_LENGTH = 4000;

export type ProofOfWorkOutcome = "verified" | "missing" | "invalid";

export type ProofOfWorkOptions = {
  /** The cookie keys: the first signs challenges, every one verifies (as in mail/seal.ts). */
  cookieKeys: string[];
  /** Where solutions already accepted are remembered, shared by every instance. */
  store: RateLimitStore;
  now: () => Date;
  /** How long a challenge can be solved and submitted, seconds. */
  ttlSeconds: number;
  difficulty?: ProofOfWorkDifficulty;
};

export type ProofOfWork = {
  /** A new signed challenge, as the widget fetches it (JSON). */
  challenge(): Promise<Challenge>;
  /**
   * The widget's form value checked: "missing" when none was sent (no script, or not solved yet),
   * "invalid" when it is malformed, forged, expired, wrong or already used.
   */
  verify(payload: unknown): Promise<ProofOfWorkOutcome>;
};

type Secrets = { signature: string; keySignature: string };

const derive = (key: string, info: string) => Buffer.from(hkdfSync("sha256", key, Buffer.alloc(0), info, 32)).toString("hex");

type Submitted = { challenge: Challenge & { signature: string }; solution: { counter: number; derivedKey: string } };

/** The widget's value: base64 of {challenge: {parameters, signature}, solution: {counter, derivedKey}}. */
function decode(payload: string): Submitted | undefined {
  try {
    const value = JSON.parse(Buffer.from(payload, "base64").toString("utf8")) as Submitted;
    const { challenge, solution } = value ?? {};
    if (typeof challenge?.signature !== "string" || typeof challenge.parameters !== "object" || challenge.parameters === null) return undefined;
    if (typeof solution?.counter !== "number" || typeof solution.derivedKey !== "string") return undefined;
    return value;
  } catch {
    return undefined;
  }
}

export function createProofOfWork(options: ProofOfWorkOptions): ProofOfWork {
  const { store, now, ttlSeconds, difficulty = DEFAULT_DIFFICULTY } = options;
  if (options.cookieKeys.length === 0) throw new Error("proof of work needs at least one cookie key");
  const secrets: Secrets[] = options.cookieKeys.map((key) => ({
    signature: derive(key, "convex-idp sign-up proof of work v1 challenge"),
    keySignature: derive(key, "convex-idp sign-up proof of work v1 key"),
  }));

  /** True when some key's secrets verify the solution; false for a wrong solution or no key. */
  async function verified(submitted: Submitted): Promise<boolean> {
    for (const secret of secrets) {
      const result = await verifySolution({
        challenge: submitted.challenge,
        solution: submitted.solution,
        deriveKey,
        hmacSignatureSecret: secret.signature,
        hmacKeySignatureSecret: secret.keySignature,
      });
      if (result.verified) return true;
      // Signed with this key but wrong (or expired): no other key will do better.
      if (result.invalidSignature === false) return false;
    }
    return false;
  }

  return {
    async challenge() {
      return createChallenge({
        algorithm: PROOF_OF_WORK_ALGORITHM,
        cost: difficulty.cost,
        counter: randomInt(difficulty.minCounter, difficulty.maxCounter + 1),
        deriveKey,
        expiresAt: new Date(now().getTime() + ttlSeconds * 1000),
        hmacSignatureSecret: secrets[0]!.signature,
        hmacKeySignatureSecret: secrets[0]!.keySignature,
      });
    },

    async verify(payload) {
      if (payload === undefined || payload === "") return "missing";
      if (typeof payload !== "string" || payload.length > MAX_PAYLOAD_LENGTH) return "invalid";
      const submitted = decode(payload);
      if (!submitted) return "invalid";
      const { parameters, signature } = submitted.challenge;
      // Our own clock decides expiry (altcha-lib also checks against the system clock).
      const expiresAt = parameters.expiresAt;
      const secondsLeft = typeof expiresAt === "number" ? expiresAt - now().getTime() / 1000 : 0;
      if (parameters.algorithm !== PROOF_OF_WORK_ALGORITHM || !(secondsLeft > 0)) return "invalid";
      try {
        if (!(await verified(submitted))) return "invalid";
      } catch {
        return "invalid"; // malformed parameters the library refuses (odd hex, bad counter)
      }
      // Accepted once: the first to count the challenge's signature wins, on any instance.
      const { count } = await store.hit(`signup:pow:${signature}`, Math.ceil(secondsLeft));
      return count === 1 ? "verified" : "invalid";
    },
  };
}
