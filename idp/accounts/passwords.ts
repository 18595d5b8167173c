// Password hashing with argon2id; parameters come from configuration, and hashes made with older
// parameters are recognised so they can be upgraded at the next sign-in.
import { randomBytes } from "node:crypto";
import argon2 from "argon2";

import type { Config } from "../config.ts";

export type Argon2Params = { memoryCost: number; timeCost: number; parallelism: number };

export function argon2Params(config: Pick<Config, "argon2MemoryKib" | "argon2Iterations" | "argon2Parallelism">): Argon2Params {
  return { memoryCost: config.argon2MemoryKib, timeCost: config.argon2Iterations, parallelism: config.argon2Parallelism };
}

/** What sign-in and the operator need of password hashing. */
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** False for a wrong password and for a malformed stored hash: neither signs anyone in. */
  verify(hash: string, password: string): Promise<boolean>;
  /** True when the hash was made with other parameters than the current ones. */
  needsRehash(hash: string): boolean;
  /** Spends the same time as a real verification, so an unknown email looks like a wrong password. */
  verifyDummy(password: string): Promise<void>;
}

export function createPasswordHasher(params: Argon2Params): PasswordHasher {
  const options = { type: argon2.argon2id as 2, ...params };
  let dummyHash: Promise<string> | undefined;

  return {
    hash: (password: string) => argon2.hash(password, options),
    async verify(hash: string, password: string): Promise<boolean> {
      try {
        return await argon2.verify(hash, password);
      } catch {
        return false; // a malformed stored hash never signs anyone in
      }
    },
    needsRehash: (hash: string) => argon2.needsRehash(hash, options),
    async verifyDummy(password: string): Promise<void> {
      dummyHash ??= argon2.hash(randomBytes(32).toString("base64url"), options);
      await argon2.verify(await dummyHash, password).catch(() => false);
    },
  };
}
