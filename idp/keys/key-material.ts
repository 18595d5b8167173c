// Loads the signing and cookie keys the server needs, generating them in development.
import type { Config } from "../config.ts";
import { generateCookieKeys, loadCookieKeys } from "./cookie-keys.ts";
import { generateSigningKey, loadSigningKeys, type SigningKey } from "./signing-keys.ts";

export type KeyMaterial = { signingKeys: SigningKey[]; cookieKeys: string[]; generated: string[] };

export class MissingKeysError extends Error {
  override name = "MissingKeysError";
}

export async function loadKeyMaterial(config: Pick<Config, "keysDir" | "generateKeys">): Promise<KeyMaterial> {
  const generated: string[] = [];
  let signingKeys = await loadSigningKeys(config.keysDir);
  let cookieKeys = await loadCookieKeys(config.keysDir);
  if ((signingKeys.length === 0 || !cookieKeys) && !config.generateKeys) {
    throw new MissingKeysError(
      `no ${signingKeys.length === 0 ? "signing keys" : "cookie keys"} in ${config.keysDir}: create them with \`idp keys generate\` (KEYS_DIR=${config.keysDir}), or start once with GENERATE_KEYS=true`,
    );
  }
  if (signingKeys.length === 0) {
    const key = await generateSigningKey(config.keysDir);
    signingKeys = [key];
    generated.push(`signing key ${key.kid}`);
  }
  if (!cookieKeys) {
    cookieKeys = await generateCookieKeys(config.keysDir);
    generated.push("cookie keys");
  }
  return { signingKeys, cookieKeys, generated };
}
