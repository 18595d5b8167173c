// Signing keys, cookie keys and loadKeyMaterial against real files in temporary directories.
import { createHash } from "node:crypto";
import { copyFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { exportJWK, generateKeyPair, type GenerateKeyPairResult } from "jose";
import { generateCookieKeys, loadCookieKeys } from "./cookie-keys.ts";
import { loadKeyMaterial, MissingKeysError } from "./key-material.ts";
import { generateSigningKey, KeyFileError, loadSigningKeys, providerJwks, writeSecretFile } from "./signing-keys.ts";

// Lets one test make jose hand out the same key pair twice, to check that nothing is overwritten.
const fixedPair = vi.hoisted(() => ({ current: undefined as unknown }));
vi.mock("jose", async (importOriginal) => {
  const jose = await importOriginal<typeof import("jose")>();
  return {
    ...jose,
    generateKeyPair: (async (...args: Parameters<typeof jose.generateKeyPair>) =>
      (fixedPair.current as GenerateKeyPairResult | undefined) ?? jose.generateKeyPair(...args)) as typeof jose.generateKeyPair,
  };
});

const roots: string[] = [];
let dir: string;

async function tempDir(): Promise<string> {
  const created = await mkdtemp(path.join(os.tmpdir(), "idp-keys-test-"));
  roots.push(created);
  return created;
}

beforeEach(async () => {
  // A directory that does not exist yet, so the code under test creates it.
  dir = path.join(await tempDir(), "keys");
});

afterEach(() => {
  fixedPair.current = undefined;
});

afterAll(async () => {
  await Promise.all(roots.map((root) => rm(root, { recursive: true, force: true })));
});

const mode = async (file: string) => (await stat(file)).mode & 0o777;

/** RFC 7638 thumbprint of an RSA key, computed independently of jose. */
function rfc7638(jwk: { e?: string; n?: string }): string {
  const canonical = JSON.stringify({ e: jwk.e, kty: "RSA", n: jwk.n });
  return createHash("sha256").update(canonical).digest("base64url");
}

describe("generateSigningKey", () => {
  it("writes signing-<kid>.json, mode 0600, in a directory of mode 0700", async () => {
    const key = await generateSigningKey(dir);
    const file = path.join(dir, `signing-${key.kid}.json`);
    expect(await readdir(dir)).toEqual([`signing-${key.kid}.json`]);
    expect(await mode(file)).toBe(0o600);
    expect(await mode(dir)).toBe(0o700);

    const stored = JSON.parse(await readFile(file, "utf8"));
    expect(stored).toEqual({ kid: key.kid, state: "active", createdAt: key.createdAt, jwk: key.jwk });
    expect(stored.jwk).toMatchObject({ kty: "RSA", kid: key.kid, alg: "RS256", use: "sig" });
    expect(stored.jwk.d).toEqual(expect.any(String));
    // 2048-bit modulus: 256 bytes, 342 base64url characters.
    expect(Buffer.from(stored.jwk.n, "base64url")).toHaveLength(256);
  });

  it("uses the RFC 7638 thumbprint as kid", async () => {
    const key = await generateSigningKey(dir);
    expect(key.kid).toBe(rfc7638(key.jwk));
    expect(key.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it("gives two keys different kids and files", async () => {
    const a = await generateSigningKey(dir);
    const b = await generateSigningKey(dir);
    expect(a.kid).not.toBe(b.kid);
    expect((await readdir(dir)).sort()).toEqual([`signing-${a.kid}.json`, `signing-${b.kid}.json`].sort());
  });

  it("records the state and creation time it is given", async () => {
    const now = new Date("2030-01-02T03:04:05.000Z");
    const key = await generateSigningKey(dir, { state: "published", now });
    expect(key.state).toBe("published");
    expect(key.createdAt).toBe("2030-01-02T03:04:05.000Z");
  });

  it("never overwrites an existing key file", async () => {
    fixedPair.current = await generateKeyPair("RS256", { modulusLength: 2048, extractable: true });
    const first = await generateSigningKey(dir, { now: new Date("2030-01-01T00:00:00Z") });
    const file = path.join(dir, `signing-${first.kid}.json`);
    const before = await readFile(file, "utf8");

    await expect(generateSigningKey(dir, { state: "published", now: new Date("2031-01-01T00:00:00Z") })).rejects.toMatchObject({
      code: "EEXIST",
    });
    expect(await readFile(file, "utf8")).toBe(before);
    expect(await readdir(dir)).toEqual([`signing-${first.kid}.json`]);
  });
});

describe("writeSecretFile", () => {
  it("refuses to replace a file and leaves it as it was", async () => {
    await writeSecretFile(dir, "secret.txt", "one");
    await expect(writeSecretFile(dir, "secret.txt", "two")).rejects.toMatchObject({ code: "EEXIST" });
    expect(await readFile(path.join(dir, "secret.txt"), "utf8")).toBe("one");
    expect(await mode(path.join(dir, "secret.txt"))).toBe(0o600);
  });
});

describe("loadSigningKeys", () => {
  it("returns nothing for a directory that does not exist", async () => {
    expect(await loadSigningKeys(dir)).toEqual([]);
  });

  it("puts the active key first, even when a published key is newer", async () => {
    const active = await generateSigningKey(dir, { state: "active", now: new Date("2030-01-01T00:00:00Z") });
    const published = await generateSigningKey(dir, { state: "published", now: new Date("2031-01-01T00:00:00Z") });
    const keys = await loadSigningKeys(dir);
    expect(keys.map((key) => [key.kid, key.state])).toEqual([
      [active.kid, "active"],
      [published.kid, "published"],
    ]);
    expect(providerJwks(keys).keys.map((jwk) => jwk.kid)).toEqual([active.kid, published.kid]);
  });

  it("puts the newest active key before an older active one", async () => {
    const older = await generateSigningKey(dir, { now: new Date("2030-01-01T00:00:00Z") });
    const newer = await generateSigningKey(dir, { now: new Date("2030-06-01T00:00:00Z") });
    const oldest = await generateSigningKey(dir, { now: new Date("2029-01-01T00:00:00Z") });
    const keys = await loadSigningKeys(dir);
    expect(keys.map((key) => key.kid)).toEqual([newer.kid, older.kid, oldest.kid]);
  });

  it("loads the private JWKs with alg RS256 and use sig", async () => {
    const key = await generateSigningKey(dir);
    const [loaded] = await loadSigningKeys(dir);
    expect(loaded).toEqual(key);
    const { keys } = providerJwks([loaded!]);
    expect(keys).toEqual([expect.objectContaining({ kid: key.kid, alg: "RS256", use: "sig", d: expect.any(String) })]);
  });

  it("ignores files that are not signing keys", async () => {
    const key = await generateSigningKey(dir);
    await generateCookieKeys(dir);
    await writeFile(path.join(dir, "README.txt"), "not a key");
    await writeFile(path.join(dir, "signing-backup.json.bak"), "not a key");
    expect((await loadSigningKeys(dir)).map((k) => k.kid)).toEqual([key.kid]);
  });

  it("rejects a corrupted key file with KeyFileError", async () => {
    const key = await generateSigningKey(dir);
    const file = path.join(dir, `signing-${key.kid}.json`);
    await writeFile(file, (await readFile(file, "utf8")).slice(0, 100));
    const error = await loadSigningKeys(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeyFileError);
    expect((error as Error).message).toContain(`signing-${key.kid}.json`);
    expect((error as Error).message).toContain("not valid JSON");
  });

  it("rejects a key file whose JWK is not RSA with KeyFileError", async () => {
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    const jwk = { ...(await exportJWK(privateKey)), kid: "ec-key" };
    await writeSecretFile(dir, "signing-ec-key.json", JSON.stringify({ kid: "ec-key", state: "active", createdAt: new Date().toISOString(), jwk }));
    const error = await loadSigningKeys(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeyFileError);
    expect((error as Error).message).toContain("signing-ec-key.json does not hold a private RSA JWK");
  });

  it("rejects a public-only RSA JWK", async () => {
    const key = await generateSigningKey(dir);
    const file = path.join(dir, `signing-${key.kid}.json`);
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = key.jwk;
    await writeFile(file, JSON.stringify({ ...key, jwk: publicJwk }));
    await expect(loadSigningKeys(dir)).rejects.toBeInstanceOf(KeyFileError);
  });

  it("rejects a kid that differs from the JWK's kid, and an unknown state", async () => {
    const key = await generateSigningKey(dir);
    const file = path.join(dir, `signing-${key.kid}.json`);
    await writeFile(file, JSON.stringify({ ...key, kid: "other" }));
    await expect(loadSigningKeys(dir)).rejects.toThrow(/kid is missing or differs/);
    await writeFile(file, JSON.stringify({ ...key, state: "retired" }));
    await expect(loadSigningKeys(dir)).rejects.toThrow(/state must be one of active, published/);
  });

  it("rejects two files holding the same kid", async () => {
    const key = await generateSigningKey(dir);
    await copyFile(path.join(dir, `signing-${key.kid}.json`), path.join(dir, "signing-copy.json"));
    await expect(loadSigningKeys(dir)).rejects.toThrow(KeyFileError);
    await expect(loadSigningKeys(dir)).rejects.toThrow(/share a kid/);
  });
});

describe("providerJwks", () => {
  it("throws when no key is active", async () => {
    await generateSigningKey(dir, { state: "published" });
    const keys = await loadSigningKeys(dir);
    expect(() => providerJwks(keys)).toThrow(KeyFileError);
    expect(() => providerJwks(keys)).toThrow("no active signing key");
    expect(() => providerJwks([])).toThrow(KeyFileError);
  });
});

describe("cookie keys", () => {
  it("are absent until generated", async () => {
    expect(await loadCookieKeys(dir)).toBeUndefined();
  });

  it("are generated once, mode 0600, and loaded back", async () => {
    const keys = await generateCookieKeys(dir);
    expect(keys).toHaveLength(1);
    expect(keys[0]!.length).toBeGreaterThanOrEqual(32);
    expect(await mode(path.join(dir, "cookie-keys.json"))).toBe(0o600);
    expect(await mode(dir)).toBe(0o700);
    expect(await loadCookieKeys(dir)).toEqual(keys);

    await expect(generateCookieKeys(dir)).rejects.toMatchObject({ code: "EEXIST" });
    expect(await loadCookieKeys(dir)).toEqual(keys);
  });

  it("load several keys in file order", async () => {
    const keys = ["a".repeat(32), "b".repeat(40)];
    await writeSecretFile(dir, "cookie-keys.json", JSON.stringify({ keys }));
    expect(await loadCookieKeys(dir)).toEqual(keys);
  });

  it("are rejected when a key is shorter than 32 characters", async () => {
    await writeSecretFile(dir, "cookie-keys.json", JSON.stringify({ keys: ["a".repeat(32), "short"] }));
    const error = await loadCookieKeys(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeyFileError);
    expect((error as Error).message).toContain("at least 32 characters");
  });

  it("are rejected when the list is empty or not strings", async () => {
    await writeSecretFile(dir, "cookie-keys.json", JSON.stringify({ keys: [] }));
    await expect(loadCookieKeys(dir)).rejects.toBeInstanceOf(KeyFileError);
    await rm(path.join(dir, "cookie-keys.json"));
    await writeSecretFile(dir, "cookie-keys.json", JSON.stringify({ keys: [1, 2] }));
    await expect(loadCookieKeys(dir)).rejects.toBeInstanceOf(KeyFileError);
  });
});

describe("loadKeyMaterial", () => {
  it("generates a signing key and cookie keys in development, then loads them back", async () => {
    const first = await loadKeyMaterial({ keysDir: dir, generateKeys: true });
    expect(first.signingKeys).toHaveLength(1);
    expect(first.signingKeys[0]!.state).toBe("active");
    expect(first.cookieKeys).toHaveLength(1);
    expect(first.generated).toEqual([`signing key ${first.signingKeys[0]!.kid}`, "cookie keys"]);
    expect((await readdir(dir)).sort()).toEqual(["cookie-keys.json", `signing-${first.signingKeys[0]!.kid}.json`]);

    const second = await loadKeyMaterial({ keysDir: dir, generateKeys: true });
    expect(second.generated).toEqual([]);
    expect(second.signingKeys).toEqual(first.signingKeys);
    expect(second.cookieKeys).toEqual(first.cookieKeys);
  });

  it("only generates what is missing", async () => {
    const key = await generateSigningKey(dir);
    const material = await loadKeyMaterial({ keysDir: dir, generateKeys: true });
    expect(material.generated).toEqual(["cookie keys"]);
    expect(material.signingKeys.map((k) => k.kid)).toEqual([key.kid]);
  });

  it("throws MissingKeysError naming `idp keys generate` when generation is off and the directory is empty", async () => {
    const error = await loadKeyMaterial({ keysDir: dir, generateKeys: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingKeysError);
    expect((error as Error).message).toContain("idp keys generate");
    expect((error as Error).message).toContain("no signing keys");
    expect((error as Error).message).toContain(dir);
    // Nothing was created.
    await expect(stat(dir)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("throws MissingKeysError when only the cookie keys are missing and generation is off", async () => {
    await generateSigningKey(dir);
    const error = await loadKeyMaterial({ keysDir: dir, generateKeys: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingKeysError);
    expect((error as Error).message).toContain("no cookie keys");
    expect(await loadCookieKeys(dir)).toBeUndefined();
  });

  it("loads existing keys when generation is off", async () => {
    const key = await generateSigningKey(dir);
    const cookieKeys = await generateCookieKeys(dir);
    const material = await loadKeyMaterial({ keysDir: dir, generateKeys: false });
    expect(material).toEqual({ signingKeys: [key], cookieKeys, generated: [] });
  });
});
