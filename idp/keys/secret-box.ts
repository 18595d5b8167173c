// Encrypts secrets the IdP must read back (TOTP seeds): AES-256-GCM under keys derived (HKDF-SHA-256)
// from the cookie keys in KEYS_DIR. Unlike mail/seal.ts, each sealed value names the key that sealed
// it (an 8-byte id, a digest of the derived key), so open() uses exactly that key, and a value sealed
// before a cookie key rotation opens as long as its key is still listed. The caller's context (the
// user id) is authenticated too, so a sealed seed copied to another row does not open there.
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from "node:crypto";

const VERSION = 2;
const KEY_ID_BYTES = 8;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER = 1 + KEY_ID_BYTES + IV_BYTES + TAG_BYTES;

export type SecretBox = {
  seal(plain: string, context: string): Buffer;
  /** The plain text, or undefined when its key is gone or it was altered (or sealed for another context). */
  open(sealed: Buffer, context: string): string | undefined;
  /** Whether a value was sealed by another key than the current one (worth sealing again). */
  sealedByOldKey(sealed: Buffer): boolean;
};

export function createSecretBox(cookieKeys: string[], info: string): SecretBox {
  if (cookieKeys.length === 0) throw new Error("sealing needs at least one cookie key");
  const keys = cookieKeys.map((cookieKey) => {
    const key = Buffer.from(hkdfSync("sha256", cookieKey, Buffer.alloc(0), info, 32));
    return { key, id: createHash("sha256").update("key id\0").update(key).digest().subarray(0, KEY_ID_BYTES) };
  });
  const current = keys[0]!;
  return {
    seal(plain, context) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv("aes-256-gcm", current.key, iv);
      cipher.setAAD(Buffer.from(context, "utf8"));
      const body = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
      return Buffer.concat([Buffer.from([VERSION]), current.id, iv, cipher.getAuthTag(), body]);
    },
    open(sealed, context) {
      if (sealed.length < HEADER || sealed[0] !== VERSION) return undefined;
      const id = sealed.subarray(1, 1 + KEY_ID_BYTES);
      const found = keys.find((candidate) => candidate.id.equals(id));
      if (!found) return undefined;
      const iv = sealed.subarray(1 + KEY_ID_BYTES, 1 + KEY_ID_BYTES + IV_BYTES);
      const tag = sealed.subarray(1 + KEY_ID_BYTES + IV_BYTES, HEADER);
      try {
        const decipher = createDecipheriv("aes-256-gcm", found.key, iv);
        decipher.setAAD(Buffer.from(context, "utf8"));
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(sealed.subarray(HEADER)), decipher.final()]).toString("utf8");
      } catch {
        return undefined;
      }
    },
    sealedByOldKey(sealed) {
      return !sealed.subarray(1, 1 + KEY_ID_BYTES).equals(current.id);
    },
  };
}
