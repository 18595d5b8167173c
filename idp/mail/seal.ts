// Seals what a queued mail carries (a reset link's token) so that the database alone does not give
// it away: AES-256-GCM under a key derived (HKDF-SHA-256) from a cookie key. The first cookie key
// seals; every one opens, so a mail queued before a cookie key rotation still goes out. Another use
// (webhook secrets) passes its own `info`, so its key differs from the mail's.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

const MAIL_INFO = "convex-idp mail outbox v1";
const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export type Sealer = {
  seal(values: Record<string, unknown>): Buffer;
  /** The values, or undefined when no key opens it (the keys it was sealed with are gone). */
  open(sealed: Buffer): Record<string, unknown> | undefined;
};

export function createSealer(cookieKeys: string[], info: string = MAIL_INFO): Sealer {
  if (cookieKeys.length === 0) throw new Error("sealing needs at least one cookie key");
  const keys = cookieKeys.map((key) => Buffer.from(hkdfSync("sha256", key, Buffer.alloc(0), info, 32)));
  return {
    seal(values) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv("aes-256-gcm", keys[0]!, iv);
      const body = Buffer.concat([cipher.update(JSON.stringify(values), "utf8"), cipher.final()]);
      return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), body]);
    },
    open(sealed) {
      if (sealed.length < 1 + IV_BYTES + TAG_BYTES || sealed[0] !== VERSION) return undefined;
      const iv = sealed.subarray(1, 1 + IV_BYTES);
      const tag = sealed.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES);
      const body = sealed.subarray(1 + IV_BYTES + TAG_BYTES);
      for (const key of keys) {
        try {
          const decipher = createDecipheriv("aes-256-gcm", key, iv);
          decipher.setAuthTag(tag);
          const plain = Buffer.concat([decipher.update(body), decipher.final()]).toString("utf8");
          return JSON.parse(plain) as Record<string, unknown>;
        } catch {
          // not this key
        }
      }
      return undefined;
    },
  };
}
