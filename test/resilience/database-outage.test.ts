// The database goes away under load (a proxy in front of PostgreSQL is cut) and comes back: the IdP
// answers 503 meanwhile, never crashes or 500s, serves again without a restart, keeps every token
// issued before the outage, and leaves no refresh half-done (a consumed token without a successor).
import { afterAll, beforeAll, expect, it } from "vitest";
import type * as oidc from "openid-client";
import { createRemoteJWKSet, jwtVerify } from "jose";
import type { Config } from "../../idp/config.ts";
import type { Database } from "../../idp/db/database.ts";
import type { TcpProxy } from "../support/tcp-proxy.ts";
import { Browser } from "../support/browser.ts";
import { exchange, signIn, startAuthorization } from "../support/oidc-flow.ts";
import { alice, startIdpOverProxiedPostgres, type IdpOverProxiedPostgres } from "./proxied-idp.ts";

let subject: IdpOverProxiedPostgres;
let proxy: TcpProxy;
let db: Database;
let config: Config;
let web: oidc.Configuration;
let baseUrl: string;

beforeAll(async () => {
  subject = await startIdpOverProxiedPostgres();
  ({ proxy, db, config, web, baseUrl } = subject);
});
afterAll(async () => subject?.close());

async function signedIn() {
  const start = await startAuthorization(web);
  const callback = await signIn(new Browser(), start, alice);
  return exchange(web, start, callback.url);
}

/** A raw refresh, so that every status (503 included) is seen as it is. */
async function refresh(refreshToken: string) {
  const response = await fetch(`${config.issuer}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: "web" }),
  });
  return { status: response.status, retryAfter: response.headers.get("retry-after"), body: await response.json() };
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`not true within ${timeoutMs} ms`);
}

it("answers 503 while the database is away and recovers by itself, losing nothing issued before", async () => {
  // Tokens issued before the outage and left alone during it.
  const idle = await Promise.all([signedIn(), signedIn(), signedIn()]);

  // A load of refresh chains and sign-ins, bounded in count and time, running across the outage.
  const statuses: number[] = [];
  let stopLoad = false;
  const chains = await Promise.all([signedIn(), signedIn()]);
  const held = chains.map((tokens) => ({ token: tokens.refresh_token!, lastStatus: 200 }));
  const refreshLoop = async (chain: { token: string; lastStatus: number }) => {
    for (let i = 0; i < 400 && !stopLoad; i++) {
      const result = await refresh(chain.token).catch(() => ({ status: 0, body: {} as Record<string, string>, retryAfter: null }));
      statuses.push(result.status);
      chain.lastStatus = result.status;
      if (result.status === 200) chain.token = result.body.refresh_token!;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const signInLoop = async () => {
    for (let i = 0; i < 100 && !stopLoad; i++) {
      const start = await startAuthorization(web);
      const page = await signIn(new Browser(), start, alice).catch(() => undefined);
      if (page) statuses.push(page.status);
    }
  };
  const load = Promise.all([...held.map(refreshLoop), signInLoop()]);

  await new Promise((resolve) => setTimeout(resolve, 300));
  await proxy.cut();

  // During the outage: readiness fails, endpoints say 503 with Retry-After, the process lives.
  const ready = await fetch(`${baseUrl}/readyz`);
  expect(ready.status).toBe(503);
  const duringOutage = await refresh(idle[0]!.refresh_token!);
  expect(duringOutage.status).toBe(503);
  expect(duringOutage.retryAfter).toBe("5");
  expect(duringOutage.body.error).toBe("temporarily_unavailable");
  const authorization = await fetch((await startAuthorization(web)).url, { headers: { accept: "text/html" }, redirect: "manual" });
  expect(authorization.status).toBe(503);
  expect(await authorization.text()).toContain("Temporarily unavailable");
  expect((await fetch(`${baseUrl}/healthz`)).status).toBe(200);
  await new Promise((resolve) => setTimeout(resolve, 500));

  await proxy.restore();
  await waitUntil(async () => (await fetch(`${baseUrl}/readyz`)).status === 200, 15_000);
  stopLoad = true;
  await load;

  // Nothing but success, a refusal the flow expects, or 503: never a 500.
  expect(statuses.filter((status) => status >= 500 && status !== 503)).toEqual([]);
  expect(statuses).toContain(503);

  // Every token issued before the outage still verifies and refreshes.
  const jwks = createRemoteJWKSet(new URL(`${config.issuer}/jwks`));
  for (const tokens of idle) {
    await jwtVerify(tokens.id_token!, jwks, { issuer: config.issuer, audience: "web" });
    const refreshed = await refresh(tokens.refresh_token!);
    expect(refreshed.status, JSON.stringify(refreshed.body)).toBe(200);
  }
  // A chain whose last answer was a success holds a live token.
  for (const chain of held.filter((chain) => chain.lastStatus === 200)) {
    expect((await refresh(chain.token)).status).toBe(200);
  }

  // No refresh was left half-done: every grant with a consumed refresh token has a live successor.
  const { rows } = await db.query<{ grant_id: string }>(
    `SELECT DISTINCT grant_id FROM oidc_payloads consumed
      WHERE model = 'RefreshToken' AND consumed_at IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM oidc_payloads live
                         WHERE live.model = 'RefreshToken' AND live.grant_id = consumed.grant_id AND live.consumed_at IS NULL)`,
  );
  expect(rows).toEqual([]);
});

it("commits a refresh whole or not at all: a failed save leaves the presented token usable", async () => {
  const tokens = await signedIn();
  // Make saving the new access token fail, after the refresh token has been consumed and rotated.
  await db.query(`CREATE FUNCTION fail_access_token() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN IF NEW.model = 'AccessToken' THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$`);
  await db.query("CREATE TRIGGER fail_access_token BEFORE INSERT ON oidc_payloads FOR EACH ROW EXECUTE FUNCTION fail_access_token()");
  try {
    expect((await refresh(tokens.refresh_token!)).status).toBeGreaterThanOrEqual(500);
  } finally {
    await db.query("DROP TRIGGER fail_access_token ON oidc_payloads");
    await db.query("DROP FUNCTION fail_access_token()");
  }
  const retried = await refresh(tokens.refresh_token!);
  expect(retried.status, JSON.stringify(retried.body)).toBe(200);
});
