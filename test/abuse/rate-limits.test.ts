// Rate limits end to end on listening IdPs with low limits set through the environment and an
// injected clock: 429 + Retry-After per client address on everything, on the sign-in form per
// address and per email, and on the token endpoint per address and per client_id, where a limited
// request never reaches oidc-provider.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { buildApp } from "../../idp/app.ts";
import { loadKeyMaterial } from "../../idp/keys/key-material.ts";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { REDIRECT_URI } from "../support/oidc-flow.ts";
import { comparable, LoginSession, signedIn } from "./helpers.ts";

let offsetMs = 0;
const now = () => new Date(Date.UTC(2031, 5, 1) + offsetMs);
const advance = (seconds: number) => {
  offsetMs += seconds * 1000;
};
const idps: TestIdp[] = [];

async function start(env: Record<string, string>): Promise<TestIdp> {
  const idp = await startTestIdp({ now, env });
  idps.push(idp);
  return idp;
}

afterAll(async () => {
  await Promise.all(idps.map((idp) => idp.close()));
});
beforeEach(() => advance(3600)); // every test starts in fresh windows

const get = (idp: TestIdp, path: string, headers: Record<string, string> = {}) => fetch(new URL(path, idp.baseUrl), { headers });

describe("the per-address limit on every request", () => {
  let idp: TestIdp;
  beforeAll(async () => {
    idp = await start({ REQUEST_LIMIT_PER_IP: "6", RATE_LIMIT_WINDOW: "60" });
  });

  it("answers 429 with Retry-After, JSON under the issuer and a page under /interaction, until the window ends", async () => {
    for (let i = 0; i < 6; i++) expect((await get(idp, "/oidc/me")).status).not.toBe(429);

    const limited = await get(idp, "/oidc/me");
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("60");
    expect(limited.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await limited.json()).toEqual({ error: "temporarily_unavailable", error_description: "too many requests; retry after 60 seconds" });

    advance(45);
    const page = await get(idp, "/interaction/some-uid", { accept: "text/html" });
    expect(page.status).toBe(429);
    expect(page.headers.get("retry-after")).toBe("15");
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(await page.text()).toContain("Too many requests from your network. Try again in 15 seconds.");

    // Probes, the stylesheet and the static public documents (discovery, JWKS) are never limited.
    expect((await get(idp, "/healthz")).status).toBe(200);
    expect((await get(idp, "/assets/idp.css")).status).toBe(200);
    expect((await get(idp, "/oidc/.well-known/openid-configuration")).status).toBe(200);
    expect((await get(idp, "/oidc/jwks")).status).toBe(200);

    advance(15);
    expect((await get(idp, "/oidc/me")).status).not.toBe(429);
  });

  it("ignores X-Forwarded-For unless TRUST_PROXY is on, so a client cannot pick its own address", async () => {
    for (let i = 0; i < 6; i++) await get(idp, "/oidc/me", { "x-forwarded-for": `203.0.113.${i}` });
    expect((await get(idp, "/oidc/me", { "x-forwarded-for": "203.0.113.200" })).status).toBe(429);
  });
});

describe("counting requests in memory and syncing with the shared counters", () => {
  const storedCount = async (idp: TestIdp, key: string) =>
    (await idp.database.db.query<{ count: number }>("SELECT count FROM rate_limits WHERE key = $1", [key])).rows[0]?.count;

  it("costs requests no round trip: the counts reach the store at a sync, at the latest when the IdP closes", async () => {
    // An interval longer than the test: only close() can send the counts.
    const idp = await startTestIdp({ now, env: { REQUEST_LIMIT_PER_IP: "3", RATE_LIMIT_WINDOW: "120", RATE_LIMIT_SYNC_INTERVAL_MS: "100000" } });
    try {
      for (let i = 0; i < 3; i++) expect((await get(idp, "/oidc/me")).status).not.toBe(429);
      expect((await get(idp, "/oidc/me")).status).toBe(429);
      expect(await storedCount(idp, "request:ip:127.0.0.1")).toBeUndefined();
      await idp.app.close();
      expect(await storedCount(idp, "request:ip:127.0.0.1")).toBe(4);
    } finally {
      await idp.close();
    }
  });

  it("with RATE_LIMIT_SYNC_INTERVAL_MS=0 counts every request in the store as it comes, so two instances share each count at once", async () => {
    const idp = await start({ REQUEST_LIMIT_PER_IP: "4", RATE_LIMIT_SYNC_INTERVAL_MS: "0" });
    const second = await buildApp({ config: idp.config, db: idp.database.db, keys: await loadKeyMaterial(idp.config), now, logger: false });
    try {
      const secondOrigin = await second.listen({ port: 0, host: "127.0.0.1" });
      const statuses: number[] = [];
      for (const origin of [idp.baseUrl, secondOrigin, idp.baseUrl, secondOrigin, idp.baseUrl, secondOrigin]) {
        statuses.push((await fetch(new URL("/oidc/me", origin))).status);
        expect(await storedCount(idp, "request:ip:127.0.0.1")).toBe(statuses.length);
      }
      expect(statuses.map((status) => status === 429)).toEqual([false, false, false, false, true, true]);
    } finally {
      await second.close();
    }
  });
});

describe("behind a trusted proxy", () => {
  let idp: TestIdp;
  beforeAll(async () => {
    idp = await start({ REQUEST_LIMIT_PER_IP: "2", TRUST_PROXY: "true" });
  });
  const from = (address: string) => get(idp, "/oidc/me", { "x-forwarded-for": address });

  it("counts each forwarded client address on its own", async () => {
    expect((await from("198.51.100.1")).status).not.toBe(429);
    expect((await from("198.51.100.1")).status).not.toBe(429);
    expect((await from("198.51.100.1")).status).toBe(429);
    expect((await from("198.51.100.2")).status).not.toBe(429);
  });

  it("counts an IPv6 /64 as one address", async () => {
    expect((await from("2001:db8:1:2::1")).status).not.toBe(429);
    expect((await from("2001:db8:1:2:ffff:ffff:ffff:fffe")).status).not.toBe(429);
    expect((await from("2001:0db8:0001:0002::77")).status).toBe(429);
    expect((await from("2001:db8:1:3::1")).status).not.toBe(429);
  });
});

describe("the sign-in form and the token endpoint", () => {
  let idp: TestIdp;
  const secrets: Record<string, string> = {};
  const bob = { email: "bob@example.com", password: "bob's long password" };
  const carol = { email: "carol@example.com", password: "carol's long password" };

  beforeAll(async () => {
    idp = await start({
      SIGN_IN_LIMIT_PER_IP: "6",
      SIGN_IN_LIMIT_PER_ACCOUNT: "2",
      LOCKOUT_THRESHOLD: "0", // the lockout is tested in brute-force.test.ts
      SIGN_IN_DELAY_MAX_MS: "0",
      TOKEN_LIMIT_PER_CLIENT: "3",
      TOKEN_LIMIT_PER_IP: "5",
    });
    await idp.admin.addUser(bob);
    await idp.admin.addUser(carol);
    await idp.admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
    for (const id of ["worker", "other-worker"]) {
      secrets[id] = (await idp.admin.addClient({ id, service: true, public: false, firstParty: false, redirectUris: [] })).secret!;
    }
  });

  it("limits sign-in posts per address, whatever the email, and keeps the email in the form", async () => {
    const session = await LoginSession.open(idp);
    for (let i = 0; i < 6; i++) expect((await session.post(`person${i}@example.com`, "wrong password")).status).toBe(401);
    const limited = await session.post("person6@example.com", "wrong password");
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("60");
    expect(limited.html).toContain("Too many sign-in attempts. Try again in 1 minute.");
    expect(limited.html).toContain('value="person6@example.com"');
    // Even the right password waits for the window.
    expect((await session.post(bob.email, bob.password)).status).toBe(429);
    advance(60);
    expect(signedIn(await (await LoginSession.open(idp)).post(bob.email, bob.password))).toBe(true);
  });

  it("limits sign-in posts per email however it is typed, the same for an unknown email, and no one else", async () => {
    const session = await LoginSession.open(idp);
    expect((await session.post("Bob@Example.com", "wrong password")).status).toBe(401);
    expect((await session.post(" BOB@example.com ", "wrong password")).status).toBe(401);
    const known = await session.post(bob.email, bob.password);
    expect(known.status).toBe(429);
    expect(known.headers.get("retry-after")).toBe("60");

    expect(signedIn(await (await LoginSession.open(idp)).post(carol.email, carol.password))).toBe(true);

    advance(60);
    // The same three posts for an email nobody has, in a fresh window: the same answers (six posts
    // in all, so the per-address limit is not what stops the third).
    const unknownSession = await LoginSession.open(idp);
    const knownSession = await LoginSession.open(idp);
    const compare: [string, string][] = [];
    for (let i = 0; i < 3; i++) {
      const unknownReply = await unknownSession.post("zed@example.com", "wrong password");
      const knownReply = await knownSession.post("bob@example.com", "wrong password");
      expect(comparable(unknownReply, "zed@example.com")).toEqual(comparable(knownReply, "bob@example.com"));
      compare.push([String(unknownReply.status), String(knownReply.status)]);
    }
    expect(compare).toEqual([
      ["401", "401"],
      ["401", "401"],
      ["429", "429"],
    ]);
  });

  function tokenRequest(clientId: string) {
    return fetch(`${idp.issuer}/token`, {
      method: "POST",
      headers: {
        authorization: `Basic ${Buffer.from(`${clientId}:${secrets[clientId]}`).toString("base64")}`,
        "content-type": "application/x-www-form-urlencoded",
      },
      body: "grant_type=client_credentials",
    });
  }

  it("limits the token endpoint per client_id and per address, answering before the provider sees the request", async () => {
    const seen = { success: 0, error: 0 };
    const onSuccess = () => seen.success++;
    const onError = () => seen.error++;
    idp.app.provider.on("grant.success", onSuccess);
    idp.app.provider.on("grant.error", onError);
    try {
      for (let i = 0; i < 3; i++) expect((await tokenRequest("worker")).status).toBe(200);
      expect(seen).toEqual({ success: 3, error: 0 });

      const perClient = await tokenRequest("worker");
      expect(perClient.status).toBe(429);
      expect(perClient.headers.get("retry-after")).toBe("60");
      expect(perClient.headers.get("cache-control")).toBe("no-store");
      expect(await perClient.json()).toEqual({ error: "temporarily_unavailable", error_description: "too many requests; retry after 60 seconds" });
      expect(seen).toEqual({ success: 3, error: 0 });

      // Another client from the same address still gets through, until the per-address limit (5).
      expect((await tokenRequest("other-worker")).status).toBe(200);
      const perAddress = await tokenRequest("other-worker");
      expect(perAddress.status).toBe(429);
      // However the path is spelled, it is the token endpoint's limit that answers.
      const variant = await fetch(`${idp.baseUrl}/OIDC//%74oken/`, { method: "POST", body: "grant_type=client_credentials" });
      expect(variant.status).toBe(429);
      expect(seen).toEqual({ success: 4, error: 0 });

      advance(30);
      expect((await tokenRequest("worker")).headers.get("retry-after")).toBe("30");
      advance(30);
      // A new window: the provider reads the form body as before.
      const again = await tokenRequest("worker");
      expect(again.status).toBe(200);
      expect((await again.json()).access_token).toBeTypeOf("string");
      expect(seen).toEqual({ success: 5, error: 0 });
    } finally {
      idp.app.provider.off("grant.success", onSuccess);
      idp.app.provider.off("grant.error", onError);
    }
  });
});
