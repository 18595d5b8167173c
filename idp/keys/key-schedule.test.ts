// The key schedule: a staged key is published before it signs, takes over at its time, and the
// key it replaced stays published until everything it signed has expired.
import { describe, expect, it } from "vitest";
import { keySchedule, nextChange } from "./key-schedule.ts";
import type { SigningKey } from "./signing-keys.ts";

const policy = { maxSignedTokenTtlSeconds: 3600, marginSeconds: 60 };
const t0 = new Date("2030-01-01T00:00:00Z");
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);

function key(kid: string, fields: Partial<SigningKey> = {}): SigningKey {
  return { kid, state: "active", createdAt: t0.toISOString(), jwk: { kty: "RSA", kid }, ...fields };
}

const statuses = (keys: SigningKey[], seconds: number) =>
  Object.fromEntries(keySchedule(keys, at(seconds), policy).timeline.map((entry) => [entry.key.kid, entry.status]));
const published = (keys: SigningKey[], seconds: number) => keySchedule(keys, at(seconds), policy).published.map((k) => k.kid);

describe("a staged rotation", () => {
  // "b" is rotated in at +100 s and signs from +460 s (JWKS max-age 300 s + margin 60 s).
  const keys = [key("a"), key("b", { createdAt: at(100).toISOString(), activatesAt: at(460).toISOString() })];

  it("publishes the next key at once but keeps signing with the current one", () => {
    expect(statuses(keys, 101)).toEqual({ a: "signing", b: "next" });
    expect(published(keys, 101)).toEqual(["a", "b"]);
  });

  it("switches signing at the activation time, keeping the old key published", () => {
    expect(statuses(keys, 459)).toEqual({ a: "signing", b: "next" });
    expect(statuses(keys, 460)).toEqual({ a: "retiring", b: "signing" });
    expect(published(keys, 460)).toEqual(["b", "a"]);
  });

  it("retires the old key once every token it signed has expired, plus the margin", () => {
    const retiresAt = 460 + 3600 + 60;
    expect(keySchedule(keys, at(500), policy).timeline.find((e) => e.key.kid === "a")!.retiresAt).toEqual(at(retiresAt));
    expect(statuses(keys, retiresAt - 1).a).toBe("retiring");
    expect(statuses(keys, retiresAt).a).toBe("retired");
    expect(published(keys, retiresAt)).toEqual(["b"]);
  });

  it("tells when the schedule changes next", () => {
    expect(nextChange(keySchedule(keys, at(101), policy), at(101))).toEqual(at(460));
    expect(nextChange(keySchedule(keys, at(500), policy), at(500))).toEqual(at(460 + 3660));
    expect(nextChange(keySchedule(keys, at(5000), policy), at(5000))).toBeUndefined();
  });
});

describe("other cases", () => {
  it("takes a revoked key out at once, and then the previous key signs", () => {
    const keys = [key("a"), key("b", { createdAt: at(10).toISOString(), revokedAt: at(20).toISOString() })];
    expect(statuses(keys, 15)).toEqual({ a: "retiring", b: "signing" });
    expect(statuses(keys, 20)).toEqual({ a: "signing", b: "revoked" });
    expect(published(keys, 20)).toEqual(["a"]);
  });

  it("publishes but never signs with a published-only key", () => {
    const keys = [key("a"), key("p", { state: "published", createdAt: at(50).toISOString() })];
    expect(statuses(keys, 100)).toEqual({ a: "signing", p: "published" });
    expect(published(keys, 100)).toEqual(["a", "p"]);
  });

  it("signs with the earliest key when none has started yet (clock skew at first start)", () => {
    const keys = [key("a", { activatesAt: at(10).toISOString() }), key("b", { activatesAt: at(20).toISOString() })];
    const schedule = keySchedule(keys, at(0), policy);
    expect(schedule.signing?.kid).toBe("a");
    expect(statuses(keys, 0)).toEqual({ a: "signing", b: "next" });
    expect(schedule.published.map((k) => k.kid)).toEqual(["a", "b"]);
  });
});
