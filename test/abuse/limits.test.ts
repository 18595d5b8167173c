// The request classification behind the rate limits: which path a request counts as (however it
// is spelled), which address (IPv6 by /64), which client_id (from the Basic header only); and the
// settings behind them.
import { describe, expect, it } from "vitest";
import { addressKey, basicClientId, limitPath } from "../../idp/abuse/limits.ts";
import { translator, waitWords } from "../../idp/pages/i18n.ts";
import { ConfigError, loadConfig } from "../../idp/config.ts";

describe("limitPath", () => {
  it.each([
    ["/oidc/token", "/oidc/token"],
    ["/oidc/token?x=1", "/oidc/token"],
    ["/OIDC/Token", "/oidc/token"],
    ["/oidc/token/", "/oidc/token"],
    ["/oidc//token", "/oidc/token"],
    ["/oidc/%74oken", "/oidc/token"],
    ["http://evil.example/oidc/token", "/oidc/token"],
    ["/oidc/%zz", "/oidc/%zz"],
    ["/", "/"],
  ])("%s counts as %s", (url, expected) => {
    expect(limitPath(url)).toBe(expected);
  });
});

describe("addressKey", () => {
  it("keeps IPv4 addresses, unwraps IPv4-mapped IPv6, and folds IPv6 into its /64", () => {
    expect(addressKey("203.0.113.7")).toBe("203.0.113.7");
    expect(addressKey("::ffff:203.0.113.7")).toBe("203.0.113.7");
    expect(addressKey("2001:db8:1:2::1")).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:0db8:0001:0002:ffff:ffff:ffff:fffe")).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(addressKey("::1")).toBe("0:0:0:0::/64");
    expect(addressKey("2001:db8:1:3::1")).not.toBe(addressKey("2001:db8:1:2::1"));
  });
});

describe("basicClientId", () => {
  const basic = (value: string) => `Basic ${Buffer.from(value).toString("base64")}`;
  it("reads the form-encoded client_id of a Basic header", () => {
    expect(basicClientId(basic("worker:secret"))).toBe("worker");
    expect(basicClientId(basic("my%20app:se:cret"))).toBe("my app");
    expect(basicClientId(`basic   ${Buffer.from("x:y").toString("base64")}`)).toBe("x");
  });
  it("finds none without a usable Basic header", () => {
    expect(basicClientId(undefined)).toBeUndefined();
    expect(basicClientId("Bearer abc")).toBeUndefined();
    expect(basicClientId(basic("no-colon"))).toBeUndefined();
    expect(basicClientId(basic(":secret-only"))).toBeUndefined();
  });
});

describe("waits in words", () => {
  it("says seconds under a minute, whole minutes above", () => {
    const t = translator("en");
    expect([1, 15, 59, 60, 61, 900, 3600].map((seconds) => waitWords(t, seconds))).toEqual([
      "1 second",
      "15 seconds",
      "59 seconds",
      "1 minute",
      "2 minutes",
      "15 minutes",
      "60 minutes",
    ]);
  });
});

describe("the abuse-protection settings", () => {
  it("default to the documented values", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      redisUrl: undefined,
      rateLimitWindowSeconds: 60,
      rateLimitSyncIntervalMs: 1000,
      requestLimitPerIp: 600,
      signInLimitPerIp: 30,
      signInLimitPerAccount: 60,
      tokenLimitPerIp: 300,
      tokenLimitPerClient: 600,
      lockoutThreshold: 5,
      lockoutFailureWindowSeconds: 900,
      lockoutDurationSeconds: 900,
      lockoutMaxDurationSeconds: 3600,
      signInDelayMaxMs: 2000,
    });
  });

  it.each([
    [{ REDIS_URL: "localhost:6379" }, "REDIS_URL must start with redis:// or rediss://"],
    [{ RATE_LIMIT_WINDOW: "0" }, "RATE_LIMIT_WINDOW must be at least 1"],
    [{ RATE_LIMIT_WINDOW: "5", RATE_LIMIT_SYNC_INTERVAL_MS: "5000" }, "RATE_LIMIT_SYNC_INTERVAL_MS must be shorter than RATE_LIMIT_WINDOW"],
    [{ LOCKOUT_DURATION: "600", LOCKOUT_MAX_DURATION: "300" }, "LOCKOUT_MAX_DURATION must be at least LOCKOUT_DURATION"],
    [{ LOCKOUT_FAILURE_WINDOW: "0" }, "LOCKOUT_FAILURE_WINDOW must be at least 1"],
  ])("refuses %j", (env, message) => {
    expect(() => loadConfig(env)).toThrow(new ConfigError(message));
  });
});
