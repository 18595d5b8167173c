// The host grammar and ALLOWED_HOSTS (authority.ts): what is well-formed, how it is compared, and
// that everything accepted also parses as a URL host (the provider builds URLs from it).
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { MALFORMED_HOSTS } from "../../test/support/hosts.ts";
import { isAllowedHost, parseAllowedHosts, parseAuthority } from "./authority.ts";

describe("parseAuthority", () => {
  it.each([
    ["localhost", "localhost", undefined],
    ["LocalHost:3000", "localhost", 3000],
    ["auth.example.com", "auth.example.com", undefined],
    ["auth.example.com.", "auth.example.com.", undefined],
    ["my_host-1.internal:65535", "my_host-1.internal", 65535],
    ["127.0.0.1:1", "127.0.0.1", 1],
    ["255.255.255.255", "255.255.255.255", undefined],
    ["[::1]", "[::1]", undefined],
    ["[2001:DB8::1]:8443", "[2001:db8::1]", 8443],
    ["[::ffff:127.0.0.1]", "[::ffff:7f00:1]", undefined],
    ["xn--caf-dma.example:08080", "xn--caf-dma.example", 8080],
  ])("accepts %j", (value, hostname, port) => {
    expect(parseAuthority(value)).toEqual({ hostname, port });
  });

  it.each([
    // Every malformed host the IdP is sent in the hardening suites, and more only the grammar meets.
    ...MALFORMED_HOSTS,
    "[::1]:",
    "[127.0.0.1]",
    "localhost:123456",
    " localhost",
    "1.2.3",
    "127.1",
    "01.2.3.4",
    "example.123",
    "café.example",
    "<script>",
    "a".repeat(254),
  ])("refuses %j", (value) => {
    expect(parseAuthority(value)).toBeUndefined();
  });

  it("accepts only what a WHATWG URL takes as its host, unchanged but for case", () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: "binary-ascii", maxLength: 24 }), fc.stringMatching(/^[A-Za-z0-9.:[\]_~-]{1,24}$/)), (value) => {
        const parsed = parseAuthority(value);
        if (!parsed) return;
        accepted++;
        const url = new URL(`http://${value}/`);
        expect(url.hostname).toBe(parsed.hostname);
        expect(url.port).toBe(parsed.port === undefined || parsed.port === 80 ? "" : String(parsed.port));
        if (!parsed.hostname.startsWith("[")) expect(parsed.hostname).toBe(value.split(":")[0]!.toLowerCase());
      }),
      { seed: 7, numRuns: 2000 },
    );
    expect(accepted).toBeGreaterThan(200); // the property was tried on many accepted values
  });
});

describe("ALLOWED_HOSTS", () => {
  const allowed = (list: string, issuer: string, host: string) => isAllowedHost(parseAllowedHosts(list, issuer), parseAuthority(host)!);

  it("always allows the issuer's host, with its port", () => {
    expect(allowed("", "https://auth.example.com/oidc", "auth.example.com")).toBe(true);
    expect(allowed("", "https://auth.example.com/oidc", "AUTH.example.com:443")).toBe(true);
    expect(allowed("", "https://auth.example.com:8443/oidc", "auth.example.com:8443")).toBe(true);
    expect(allowed("", "https://auth.example.com:8443/oidc", "auth.example.com")).toBe(false);
    expect(allowed("other.example", "https://auth.example.com/oidc", "auth.example.com")).toBe(true);
    expect(allowed("", "https://auth.example.com/oidc", "evil.example")).toBe(false);
    expect(allowed("", "https://auth.example.com/oidc", "sub.auth.example.com")).toBe(false);
  });

  it("allows a listed host on any port, or on the port it names", () => {
    expect(allowed("idp:3000, Other.Example", "https://auth.example.com/oidc", "idp:3000")).toBe(true);
    expect(allowed("idp:3000, Other.Example", "https://auth.example.com/oidc", "idp:3001")).toBe(false);
    expect(allowed("idp:3000, Other.Example", "https://auth.example.com/oidc", "idp")).toBe(false);
    expect(allowed("idp:3000, Other.Example", "https://auth.example.com/oidc", "other.example:9")).toBe(true);
  });

  it("allows all three loopback names on any port when the issuer is one of them, and only then", () => {
    for (const issuer of ["http://localhost:3000/oidc", "http://127.0.0.1:3000/oidc", "http://[::1]:3000/oidc"]) {
      for (const host of ["localhost:80", "127.0.0.1:3000", "[::1]", "LOCALHOST"]) expect(allowed("", issuer, host), `${issuer} ${host}`).toBe(true);
      expect(allowed("", issuer, "localhost.evil.example")).toBe(false);
    }
    expect(allowed("", "https://auth.example.com/oidc", "localhost")).toBe(false);
    expect(allowed("", "https://auth.example.com/oidc", "127.0.0.1")).toBe(false);
  });

  it("* allows any well-formed host", () => {
    expect(allowed("*", "https://auth.example.com/oidc", "anything.example:1")).toBe(true);
    expect(allowed("a.example, *", "https://auth.example.com/oidc", "[2001:db8::1]")).toBe(true);
  });

  it("refuses a pattern or a malformed entry, saying which", () => {
    expect(() => parseAllowedHosts("*.example.com", "https://auth.example.com/oidc")).toThrow(/lone \*.*\*\.example\.com/);
    expect(() => parseAllowedHosts("ok.example, exa mple.com", "https://auth.example.com/oidc")).toThrow(/"exa mple\.com"/);
    expect(() => parseAllowedHosts("idp:99999", "https://auth.example.com/oidc")).toThrow(/"idp:99999"/);
    expect(() => parseAllowedHosts("https://idp", "https://auth.example.com/oidc")).toThrow(/"https:\/\/idp"/);
  });
});
