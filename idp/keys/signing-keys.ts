// Signing keys as files under KEYS_DIR: one private RSA JWK per file, with its state and times.
// An "active" key signs from activatesAt (its creation, unless staged for later) until a newer
// active key takes over; a "published" key only ever verifies. key-schedule.ts turns the files and
// the clock into what signs and what is published.
import { chmod, mkdir, open, readdir, readFile, rename } from "node:fs/promises";
import path from "node:path";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from "jose";

export type SigningKeyState = "active" | "published";

export type SigningKey = {
  kid: string;
  state: SigningKeyState;
  createdAt: string;
  /** When an active key starts signing (ISO); absent means from createdAt. */
  activatesAt?: string;
  /** When the key was withdrawn (compromised): never published or used from then on. */
  revokedAt?: string;
  /** The private JWK, with kid, alg RS256 and use sig. */
  jwk: JWK;
};

const FILE_PATTERN = /^signing-[\w-]+\.json$/;
const STATES: SigningKeyState[] = ["active", "published"];

export class KeyFileError extends Error {
  override name = "KeyFileError";
}

function parseKeyFile(file: string, text: string): SigningKey {
  let key: SigningKey;
  try {
    key = JSON.parse(text) as SigningKey;
  } catch {
    throw new KeyFileError(`${file} is not valid JSON`);
  }
  const { jwk } = key;
  if (!jwk || jwk.kty !== "RSA" || !jwk.d || !jwk.n || !jwk.e) throw new KeyFileError(`${file} does not hold a private RSA JWK`);
  if (!key.kid || jwk.kid !== key.kid) throw new KeyFileError(`${file}: kid is missing or differs from the JWK's kid`);
  if (!STATES.includes(key.state)) throw new KeyFileError(`${file}: state must be one of ${STATES.join(", ")}`);
  for (const field of ["createdAt", "activatesAt", "revokedAt"] as const) {
    const value = key[field];
    if ((field === "createdAt" || value !== undefined) && Number.isNaN(Date.parse(value ?? ""))) {
      throw new KeyFileError(`${file}: ${field} must be an ISO date-time`);
    }
  }
  return { ...key, jwk: { ...jwk, alg: "RS256", use: "sig" } };
}

/** Reads every signing key in dir, the active one first; duplicate kids are an error. */
export async function loadSigningKeys(dir: string): Promise<SigningKey[]> {
  const files = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return [] as string[];
    throw error;
  });
  const keys: SigningKey[] = [];
  for (const file of files.filter((name) => FILE_PATTERN.test(name)).sort()) {
    keys.push(parseKeyFile(file, await readFile(path.join(dir, file), "utf8")));
  }
  const kids = new Set(keys.map((key) => key.kid));
  if (kids.size !== keys.length) throw new KeyFileError(`two key files in ${dir} share a kid`);
  return orderForSigning(keys);
}

/** The newest active key signs, so it goes first; the rest are only published. */
function orderForSigning(keys: SigningKey[]): SigningKey[] {
  return [...keys].sort((a, b) => {
    if (a.state !== b.state) return a.state === "active" ? -1 : 1;
    return b.createdAt.localeCompare(a.createdAt);
  });
}

export async function generateSigningKey(
  dir: string,
  { state = "active", now = new Date(), activatesAt }: { state?: SigningKeyState; now?: Date; activatesAt?: Date } = {},
): Promise<SigningKey> {
  const { privateKey } = await generateKeyPair("RS256", { modulusLength: 2048, extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk);
  const key: SigningKey = {
    kid,
    state,
    createdAt: now.toISOString(),
    ...(activatesAt ? { activatesAt: activatesAt.toISOString() } : {}),
    jwk: { ...jwk, kid, alg: "RS256", use: "sig" },
  };
  await writeSecretFile(dir, `signing-${kid}.json`, JSON.stringify(key, null, 2) + "\n");
  return key;
}

/** Marks a key revoked from `at` on: it leaves the JWKS and never signs again. */
export async function revokeSigningKey(dir: string, kid: string, at: Date): Promise<SigningKey> {
  const file = path.join(dir, `signing-${kid}.json`);
  const key = parseKeyFile(path.basename(file), await readFile(file, "utf8"));
  const revoked: SigningKey = { ...key, revokedAt: at.toISOString() };
  // Written beside the original and renamed over it: a reader sees the old file or the new one.
  const temporary = `.revoking-${kid}-${process.pid}.json`;
  await writeSecretFile(dir, temporary, JSON.stringify(revoked, null, 2) + "\n");
  await rename(path.join(dir, temporary), file);
  return revoked;
}

/** Creates a file readable only by its owner, in a directory only its owner can enter; never overwrites. */
export async function writeSecretFile(dir: string, name: string, content: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const handle = await open(path.join(dir, name), "wx", 0o600);
  try {
    await handle.writeFile(content);
  } finally {
    await handle.close();
  }
  await chmod(path.join(dir, name), 0o600); // in case the umask widened it
}

/** The private keys oidc-provider signs with, the active one first. */
export function providerJwks(keys: SigningKey[]): { keys: JWK[] } {
  if (!keys.some((key) => key.state === "active")) throw new KeyFileError("no active signing key");
  return { keys: keys.map((key) => key.jwk) };
}
