// Redis (REDIS_URL, the rate-limit and lockout counters) goes away while the IdP runs (a proxy in
// front of it is cut) and comes back: a sign-in post answers 503 with Retry-After, never 500, and
// checks no password unlimited; the token endpoint, whose limits are counted in the process, keeps
// working; sign-ins work again once Redis is back, without a restart.
import { afterAll, beforeAll, expect, it } from "vitest";
import type { TestIdp } from "../support/idp.ts";
import type { TcpProxy } from "../support/tcp-proxy.ts";
import { hasRedis } from "../support/redis.ts";
import { LoginSession, signedIn } from "../abuse/helpers.ts";
import { alice, startIdpOverProxiedRedis, type IdpOverProxiedRedis } from "./proxied-idp.ts";

let subject: IdpOverProxiedRedis;
let proxy: TcpProxy;
let idp: TestIdp;

beforeAll(async () => {
  if (!hasRedis) return;
  subject = await startIdpOverProxiedRedis();
  ({ proxy, idp } = subject);
});
afterAll(async () => subject?.close());

it.skipIf(!hasRedis)("answers sign-ins 503 while Redis is away, keeps issuing tokens, and recovers by itself", async () => {
  expect(signedIn(await (await LoginSession.open(idp)).post(alice.email, alice.password))).toBe(true);

  const login = await LoginSession.open(idp);
  await proxy.cut();
  const refused = await login.post(alice.email, alice.password);
  expect(refused.status).toBe(503);
  expect(refused.headers.get("retry-after")).toBe("5");
  expect(refused.headers.get("content-type")).toMatch(/^text\/html/);
  expect(refused.html).toContain("Temporarily unavailable");

  // The per-request limits are counted in the process: machine clients are not held up.
  expect((await subject.serviceToken()).status).toBe(200);

  await proxy.restore();
  const deadline = Date.now() + 10_000;
  let reply = await (await LoginSession.open(idp)).post(alice.email, alice.password);
  while (!signedIn(reply) && Date.now() < deadline) {
    expect(reply.status).toBe(503);
    await new Promise((resolve) => setTimeout(resolve, 200));
    reply = await (await LoginSession.open(idp)).post(alice.email, alice.password);
  }
  expect(signedIn(reply)).toBe(true);
});
