// Client secrets: 256 random bits, shown once, stored only as a SHA-256 digest. A slow hash buys
// nothing for secrets this long, and a fast one keeps the token endpoint fast.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

export function generateClientSecret(): string {
  return randomBytes(32).toString("base64url");
}

export function hashClientSecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

export function clientSecretMatches(secret: string, storedHash: string | undefined): boolean {
  if (!storedHash) return false;
  const expected = Buffer.from(storedHash, "hex");
  const actual = Buffer.from(hashClientSecret(secret), "hex");
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
