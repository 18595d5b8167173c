// Redis (REDIS_URL, the rate-limit and lockout counters) goes away while the IdP runs (a proxy in
// front of it is cut) and comes back: a sign-in post answers 503 with Retry-After, never 500, and
// checks no password unlimited; the token endpoint, whose limits are counted in the process, keeps
// working; sign-ins work again once Redis is back, without a restart.
import { afterAll, beforeAll, expect, it } from "vitest";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.ts";
import { REDIRECT_URI } from "../support/oidc-flow.ts";
import { LoginSession, redisUrl, signedIn } from "../abuse/helpers.ts";

const alice = { email: "alice@example.com", password: "correct horse battery" };
let proxy: TcpProxy;
let idp: TestIdp;
let serviceSecret: string;

beforeAll(async () => {
  const redis = new URL(redisUrl);
  proxy = await startTcpProxy({ host: redis.hostname, port: Number(redis.port || 6379) });
  const proxied = new URL(redisUrl);
  proxied.port = String(proxy.port);
  idp = await startTestIdp({ env: { REDIS_URL: proxied.toString() } });
  await idp.admin.addUser(alice);
  await idp.admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
  serviceSecret = (await idp.admin.addClient({ id: "worker", service: true, public: false, firstParty: false, redirectUris: [] })).secret!;
});
afterAll(async () => {
  await idp?.close();
  await proxy?.close();
});

const serviceToken = () =>
  fetch(`${idp.issuer}/token`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `Basic ${Buffer.from(`worker:${serviceSecret}`).toString("base64")}`,
    },
    body: new URLSearchParams({ grant_type: "client_credentials" }),
  });

it("answers sign-ins 503 while Redis is away, keeps issuing tokens, and recovers by itself", async () => {
  expect(signedIn(await (await LoginSession.open(idp)).post(alice.email, alice.password))).toBe(true);

  const login = await LoginSession.open(idp);
  await proxy.cut();
  const refused = await login.post(alice.email, alice.password);
  expect(refused.status).toBe(503);
  expect(refused.headers.get("retry-after")).toBe("5");
  expect(refused.headers.get("content-type")).toMatch(/^text\/html/);
  expect(refused.html).toContain("Temporarily unavailable");

  // The per-request limits are counted in the process: machine clients are not held up.
  expect((await serviceToken()).status).toBe(200);

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
