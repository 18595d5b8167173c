import { describe, expect, it } from "vitest";
import { pathOnly } from "./logging.ts";

describe("the path a log line records", () => {
  it("drops the query and the token of a reset, verification, invitation or sign-in link, in origin and in absolute form", () => {
    expect(pathOnly("/oidc/auth?client_id=web&code_challenge=x")).toBe("/oidc/auth");
    expect(pathOnly("/reset/abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")).toBe("/reset/[redacted]");
    expect(pathOnly("//reset//abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG?x=1")).toBe("//reset//[redacted]");
    expect(pathOnly("http://idp.example:3000/reset/abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")).toBe("/reset/[redacted]");
    expect(pathOnly("HTTPS://idp.example/Reset/secret")).toBe("/Reset/[redacted]");
    expect(pathOnly("/verify-email/abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")).toBe("/verify-email/[redacted]");
    expect(pathOnly("/invite/abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG?x=1")).toBe("/invite/[redacted]");
    expect(pathOnly("http://idp.example/Invite//secret")).toBe("/Invite//[redacted]");
    expect(pathOnly("/email-link/abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")).toBe("/email-link/[redacted]");
  });
});
