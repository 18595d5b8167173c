import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createSealer } from "./seal.ts";

const key = () => randomBytes(32).toString("base64url");

describe("sealing a queued mail's values", () => {
  it("opens what it sealed, and the sealed bytes do not contain the values", () => {
    const sealer = createSealer([key()]);
    const token = "x".repeat(43);
    const sealed = sealer.seal({ token });
    expect(sealed.toString("latin1")).not.toContain(token);
    expect(sealer.open(sealed)).toEqual({ token });
    // A fresh IV each time: two seals of one value differ.
    expect(sealer.seal({ token }).equals(sealed)).toBe(false);
  });

  it("opens with any listed key (a rotation puts a new one first) and refuses a tampered or foreign box", () => {
    const older = key();
    const sealed = createSealer([older]).seal({ token: "t" });
    expect(createSealer([key(), older]).open(sealed)).toEqual({ token: "t" });
    expect(createSealer([key()]).open(sealed)).toBeUndefined();
    const tampered = Buffer.from(sealed);
    tampered[tampered.length - 1]! ^= 1;
    expect(createSealer([older]).open(tampered)).toBeUndefined();
    expect(createSealer([older]).open(Buffer.from("short"))).toBeUndefined();
  });
});
