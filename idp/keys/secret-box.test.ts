import { describe, expect, it } from "vitest";
import { createSecretBox } from "./secret-box.ts";

const INFO = "test secrets v1";

describe("the secret box", () => {
  it("opens what it sealed, for the same context only", () => {
    const box = createSecretBox(["k1"], INFO);
    const sealed = box.seal("JBSWY3DPEHPK3PXP", "user-1");
    expect(sealed.toString("utf8")).not.toContain("JBSWY3DPEHPK3PXP");
    expect(box.open(sealed, "user-1")).toBe("JBSWY3DPEHPK3PXP");
    expect(box.open(sealed, "user-2")).toBeUndefined();
  });

  it("still opens a value sealed before a cookie key rotation, by the key id it carries, until that key is dropped", () => {
    const before = createSecretBox(["old"], INFO);
    const sealed = before.seal("seed", "u");
    const rotated = createSecretBox(["new", "old"], INFO);
    expect(rotated.open(sealed, "u")).toBe("seed");
    expect(rotated.sealedByOldKey(sealed)).toBe(true);
    expect(rotated.sealedByOldKey(rotated.seal("seed", "u"))).toBe(false);
    expect(createSecretBox(["new"], INFO).open(sealed, "u")).toBeUndefined();
    // Another use (info) derives other keys.
    expect(createSecretBox(["old"], "other v1").open(sealed, "u")).toBeUndefined();
  });

  it("refuses an altered value", () => {
    const box = createSecretBox(["k1"], INFO);
    const sealed = box.seal("seed", "u");
    sealed[sealed.length - 1]! ^= 1;
    expect(box.open(sealed, "u")).toBeUndefined();
  });
});
