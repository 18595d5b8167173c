// The levels a sign-in's methods reach: two factor kinds make mfa, a user-verified passkey phr,
// and an upstream sign-in counts for nothing by itself (only what this IdP or a trusted upstream checked).
import { describe, expect, it } from "vitest";
import { completeMethods, levelOf } from "./authentication-methods.ts";

describe("authentication levels", () => {
  it("one factor, or two of the same kind, is 1fa", () => {
    expect(levelOf(["pwd"])).toBe("1fa");
    expect(levelOf(["email"])).toBe("1fa");
    expect(levelOf(["otp", "sms"])).toBe("1fa");
  });

  it("a password and a code are mfa; a user-verified passkey is phr", () => {
    expect(completeMethods(["pwd", "otp"])).toEqual(["mfa", "otp", "pwd"]);
    expect(levelOf(["pwd", "otp"])).toBe("mfa");
    expect(levelOf(["hwk", "user"])).toBe("phr");
    expect(levelOf(["swk", "pin"])).toBe("phr");
    expect(levelOf(["hwk"])).toBe("1fa"); // no user verification: the key alone
  });

  it("an upstream sign-in is no factor: with a password it stays 1fa", () => {
    expect(levelOf(["fed"])).toBe("1fa");
    expect(completeMethods(["fed", "pwd"])).toEqual(["fed", "pwd"]);
    expect(levelOf(["fed", "pwd", "otp"])).toBe("mfa");
  });

  it("a claimed mfa is recomputed, never taken as given", () => {
    expect(completeMethods(["mfa", "pwd"])).toEqual(["pwd"]);
  });
});
