// Keys that sign the IdP's cookies: the first signs, all verify, so a new key can be put in front.
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { KeyFileError, writeSecretFile } from "./signing-keys.ts";

const FILE = "cookie-keys.json";

export async function loadCookieKeys(dir: string): Promise<string[] | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(dir, FILE), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  const parsed = JSON.parse(text) as { keys?: unknown };
  const keys = parsed.keys;
  if (!Array.isArray(keys) || keys.length === 0 || !keys.every((key) => typeof key === "string" && key.length >= 32)) {
    throw new KeyFileError(`${FILE} must be {"keys": ["<at least 32 characters>", ...]}`);
  }
  return keys as string[];
}

export async function generateCookieKeys(dir: string): Promise<string[]> {
  const keys = [randomBytes(32).toString("base64url")];
  await writeSecretFile(dir, FILE, JSON.stringify({ keys }, null, 2) + "\n");
  return keys;
}
