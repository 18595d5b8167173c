// The secrets of one-time codes: the 6-digit codes, the magic links' tokens, the browser binding
// cookie, and the confirmation code a browser shows for a link opened elsewhere. Only HMACs under
// keys derived (HKDF-SHA-256) from the cookie keys reach the database, so a copy of it cannot be
// searched for a code offline. The first cookie key makes new HMACs; every key's are accepted, so
// codes in flight survive a cookie key rotation.
import { createHmac, hkdfSync, randomBytes, randomInt, timingSafeEqual } from "node:crypto";

const INFO = "convex-idp one-time codes v1";

/** What an HMAC is of: the kinds never collide, so a code can never pass for a link. */
type Kind = "code" | "link" | "browser" | "confirmation";

/** A sign-in code: 6 digits, every one equally likely. */
export const CODE_PATTERN = "^[0-9]{6}$";
/** A magic link's token and a browser's binding secret: 32 random bytes, base64url. */
export const SECRET_PATTERN = "^[A-Za-z0-9_-]{43}$";

export type CodeSecrets = {
  newCode(): string;
  /** A link token or a browser binding secret. */
  newSecret(): string;
  /** The HMAC to store. */
  mac(kind: Kind, value: string): Buffer;
  /** The HMACs to look for: one per cookie key. */
  macs(kind: Kind, value: string): Buffer[];
  /**
   * The confirmation code the asking browser shows, derived from its binding's stored HMAC: the
   * asking browser computes it from its cookie, a link opened elsewhere checks it from the row.
   */
  confirmationCode(browserMac: Buffer): string;
  /** Whether a typed confirmation is the one for this binding, compared in constant time. */
  confirmationMatches(browserMac: Buffer, typed: string): boolean;
};

export function createCodeSecrets(cookieKeys: string[]): CodeSecrets {
  if (cookieKeys.length === 0) throw new Error("one-time codes need at least one cookie key");
  const keys = cookieKeys.map((key) => Buffer.from(hkdfSync("sha256", key, Buffer.alloc(0), INFO, 32)));
  const hmac = (key: Buffer, kind: string, value: string | Buffer) => createHmac("sha256", key).update(`${kind}\0`).update(value).digest();
  return {
    newCode: () => String(randomInt(0, 1_000_000)).padStart(6, "0"),
    newSecret: () => randomBytes(32).toString("base64url"),
    mac: (kind, value) => hmac(keys[0]!, kind, value),
    macs: (kind, value) => keys.map((key) => hmac(key, kind, value)),
    confirmationCode(browserMac) {
      // 48 bits reduced to 6 digits: the bias (2^48 mod 10^6) is far below a guess's 1 in 10^6.
      const number = hmac(keys[0]!, "confirmation", browserMac).readUIntBE(0, 6) % 1_000_000;
      return String(number).padStart(6, "0");
    },
    confirmationMatches(browserMac, typed) {
      const expected = Buffer.from(this.confirmationCode(browserMac));
      const given = Buffer.from(typed);
      return given.length === expected.length && timingSafeEqual(given, expected);
    },
  };
}
