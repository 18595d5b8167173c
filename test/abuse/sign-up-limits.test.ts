// The sign-up limits on both counter backends, with a driven clock: per client address (a post
// without proof of work counting double) and per email domain (lower-cased), shared by two
// instances, each turned off by 0, and over with the window.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRateLimits, rateLimitRules, type RateLimits } from "../../idp/abuse/limits.ts";
import { loadConfig } from "../../idp/config.ts";
import { storeBackends, type StoreBackend } from "./store-backends.ts";
import { describeEach } from "../support/redis.ts";

let offsetMs = 0;
const now = () => new Date(Date.UTC(2031, 5, 1) + offsetMs);
const advance = (seconds: number) => (offsetMs += seconds * 1000);

describeEach(storeBackends, "sign-up limits on $name", (backend) => {
  let opened: StoreBackend;
  let instances: [RateLimits, RateLimits];
  const limitsFor = (env: Record<string, string>, store = opened.stores[0]) =>
    createRateLimits(store, loadConfig({ RATE_LIMIT_WINDOW: "60", ...env }), { now });

  beforeAll(async () => {
    opened = await backend.open(now);
    const env = { SIGN_UP_LIMIT_PER_IP: "4", SIGN_UP_LIMIT_PER_DOMAIN: "6" };
    instances = [limitsFor(env, opened.stores[0]), limitsFor(env, opened.stores[1])];
  });
  afterAll(async () => {
    await Promise.all(instances.map((limits) => limits.close()));
    await opened.close();
  });

  it("counts posts per address across instances, and answers the seconds left in the window once over", async () => {
    advance(3600);
    const [one, two] = instances;
    expect(await one.signUpRequest("203.0.113.1", "a@one.example")).toBeUndefined();
    expect(await two.signUpRequest("203.0.113.1", "b@two.example")).toBeUndefined();
    expect(await one.signUpRequest("203.0.113.1", "c@three.example")).toBeUndefined();
    advance(15);
    expect(await two.signUpRequest("203.0.113.1", "d@four.example")).toBeUndefined();
    expect(await one.signUpRequest("203.0.113.1", "e@five.example")).toBe(45);
    // Another address counts on its own.
    expect(await one.signUpRequest("203.0.113.2", "f@six.example")).toBeUndefined();
    advance(45);
    expect(await two.signUpRequest("203.0.113.1", "g@seven.example")).toBeUndefined();
  });

  it("counts a post without the proof of work it was asked for twice against its address", async () => {
    advance(3600);
    const [one] = instances;
    expect(await one.signUpRequest("2001:db8:5::1", "a@one.example", 2)).toBeUndefined();
    expect(await one.signUpRequest("2001:db8:5::2", "b@two.example", 2)).toBeUndefined();
    expect(await one.signUpRequest("2001:db8:5::3", "c@three.example")).toBe(60);
    expect(await one.signUpRequest("2001:db8:6::1", "c@three.example")).toBeUndefined();
  });

  it("counts posts per email domain, lower-cased, from every address", async () => {
    advance(3600);
    const [one, two] = instances;
    const emails = ["a@Flood.example", "b@flood.EXAMPLE", "c@flood.example.", "d@flood.example", "e@flood.example", "f@FLOOD.example"];
    for (const [index, email] of emails.entries()) {
      expect(await (index % 2 ? one : two).signUpRequest(`198.51.100.${index}`, email), email).toBeUndefined();
    }
    expect(await one.signUpRequest("198.51.100.99", "g@flood.example")).toBe(60);
    // A subdomain is another domain; an email without one counts against its address only.
    expect(await one.signUpRequest("198.51.100.98", "h@mail.flood.example")).toBeUndefined();
    expect(await one.signUpRequest("198.51.100.97", "no-domain")).toBeUndefined();
  });

  it("turns each limit off at 0", async () => {
    advance(3600);
    const off = limitsFor({ SIGN_UP_LIMIT_PER_IP: "0", SIGN_UP_LIMIT_PER_DOMAIN: "0" });
    try {
      for (let i = 0; i < 12; i++) expect(await off.signUpRequest("192.0.2.1", "x@same.example", 2)).toBeUndefined();
    } finally {
      await off.close();
    }
  });
});

describe("the sign-up limit settings", () => {
  it("default to 10 per address and 50 per domain in each RATE_LIMIT_WINDOW", () => {
    const rules = rateLimitRules(loadConfig({}));
    expect(rules.signUpPerIp).toEqual({ name: "signup:ip", limit: 10, windowSeconds: 60 });
    expect(rules.signUpPerDomain).toEqual({ name: "signup:domain", limit: 50, windowSeconds: 60 });
  });
});
