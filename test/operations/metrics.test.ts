// /metrics reports what happened: counters move with sign-ins, tokens, refreshes and 429s; the
// latency histogram, pool and key gauges are there; a token protects it when configured.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as oidc from "openid-client";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { Browser } from "../support/browser.ts";
import { discover, exchange, signIn, startAuthorization, REDIRECT_URI } from "../support/oidc-flow.ts";

/** The sum of the samples of a metric whose labels include the given ones (Prometheus text format). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let total: number | undefined;
  for (const line of text.split("\n")) {
    const match = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = match[2] ?? "";
    if (Object.entries(labels).every(([key, value]) => present.includes(`${key}="${value}"`))) total = (total ?? 0) + Number(match[3]);
  }
  return total;
}

describe("metrics", () => {
  let idp: TestIdp;
  beforeAll(async () => {
    idp = await startTestIdp();
    await idp.admin.addUser({ email: "alice@example.com", password: "correct horse battery" });
    await idp.admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
  });
  afterAll(async () => idp?.close());

  const scrape = async () => (await fetch(`${idp.baseUrl}/metrics`)).text();

  it("count sign-ins, tokens by grant type and refreshes", async () => {
    const web = await discover(idp.issuer, "web");
    const browser = new Browser();
    const start = await startAuthorization(web);
    const login = await browser.follow(start.url.toString());
    await browser.submit(login, "/login", { email: "alice@example.com", password: "wrong password!" });
    const callback = await signIn(browser, start, { email: "alice@example.com", password: "correct horse battery" });
    const tokens = await exchange(web, start, callback.url);
    await oidc.refreshTokenGrant(web, tokens.refresh_token!);

    const text = await scrape();
    expect(sample(text, "idp_sign_ins_total", { outcome: "success" })).toBe(1);
    expect(sample(text, "idp_sign_ins_total", { outcome: "invalid_credentials" })).toBe(1);
    expect(sample(text, "idp_tokens_issued_total", { grant_type: "authorization_code" })).toBe(1);
    expect(sample(text, "idp_tokens_issued_total", { grant_type: "refresh_token" })).toBe(1);
    expect(sample(text, "idp_refreshes_total", { outcome: "success" })).toBe(1);
    expect(sample(text, "idp_http_request_duration_seconds_count", { route: "/oidc/token", status: "2xx" })).toBe(2);
    expect(sample(text, "idp_http_request_duration_seconds_count", { route: "/interaction/:uid/login" })).toBeGreaterThanOrEqual(2);
    expect(sample(text, "idp_db_pool_connections", { state: "total" })).toBeGreaterThan(0);
    const kid = (await (await fetch(`${idp.issuer}/jwks`)).json()).keys[0].kid;
    expect(sample(text, "idp_signing_key_age_seconds", { kid, status: "signing" })).toBeGreaterThanOrEqual(0);
    expect(sample(text, "idp_process_resident_memory_bytes")).toBeGreaterThan(0);
  });

  it("echo a caller's X-Request-Id, or make one", async () => {
    const given = await fetch(`${idp.baseUrl}/healthz`, { headers: { "x-request-id": "trace-123" } });
    expect(given.headers.get("x-request-id")).toBe("trace-123");
    const made = await fetch(`${idp.issuer}/jwks`, { headers: { "x-request-id": "bad id with spaces" } });
    expect(made.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("metrics behind a token, with rate limiting", () => {
  let idp: TestIdp;
  beforeAll(async () => {
    idp = await startTestIdp({ env: { METRICS_TOKEN: "scrape-secret", REQUEST_LIMIT_PER_IP: "5" } });
  });
  afterAll(async () => idp?.close());

  it("refuses scrapes without the token and counts 429s", async () => {
    for (let i = 0; i < 8; i++) await fetch(`${idp.issuer}/me`);
    expect((await fetch(`${idp.baseUrl}/metrics`)).status).toBe(401);
    expect((await fetch(`${idp.baseUrl}/metrics`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    const scraped = await fetch(`${idp.baseUrl}/metrics`, { headers: { authorization: "Bearer scrape-secret" } });
    expect(scraped.status).toBe(200);
    expect(sample(await scraped.text(), "idp_rate_limited_total", { route: "/oidc/me" })).toBe(3);
  });
});
