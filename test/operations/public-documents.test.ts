// Discovery and the JWKS answered from memory (idp/http/public-documents.ts): byte for byte what the
// provider answered the first time, per Host, with the caller's Origin, and never stale after the
// signing keys change.
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rotateSigningKey } from "../../idp/keys/rotation.ts";
import { startTestIdp, type TestIdp } from "../support/idp.ts";

type Answer = { status: number; headers: http.IncomingHttpHeaders; body: string };

function get(idp: TestIdp, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const { hostname, port } = new URL(idp.baseUrl);
  return new Promise((resolve, reject) => {
    const request = http.get({ hostname, port, path, headers, agent: false }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode!, headers: response.headers, body }));
    });
    request.on("error", reject);
  });
}

/** The headers that must be the same on every answer (date and request id differ by nature). */
function stableHeaders(answer: Answer) {
  const { date: _date, "x-request-id": _id, connection: _connection, "keep-alive": _keepAlive, ...rest } = answer.headers;
  return rest;
}

describe("discovery and JWKS from memory", () => {
  let idp: TestIdp;
  beforeAll(async () => {
    // Any host: the per-Host keys and the bound matter most with ALLOWED_HOSTS=*; with a list, only
    // the listed hosts ever get here (test/hardening/hosts.test.ts).
    idp = await startTestIdp({ env: { KEYS_RELOAD_INTERVAL: "0", ALLOWED_HOSTS: "*" } });
  });
  afterAll(async () => idp?.close());

  for (const document of ["/.well-known/openid-configuration", "/jwks", "/.well-known/oauth-authorization-server"]) {
    it(`${document}: later answers are the provider's first one, headers and body`, async () => {
      const path = `/oidc${document}`;
      const first = await get(idp, path);
      const second = await get(idp, path);
      const third = await get(idp, `${path}?cache-buster=1`);
      expect(first.status).toBe(200);
      expect(first.body.length).toBeGreaterThan(20);
      for (const later of [second, third]) {
        expect(later.status).toBe(200);
        expect(later.body).toBe(first.body);
        expect(stableHeaders(later)).toEqual(stableHeaders(first));
        expect(later.headers["x-request-id"]).toMatch(/.+/);
        expect(later.headers["x-request-id"]).not.toBe(first.headers["x-request-id"]);
      }
      expect(first.headers["content-security-policy"]).toContain("default-src 'none'");
      expect(first.headers["access-control-allow-origin"]).toBe("*");
    });
  }

  it("reflects the caller's Origin as the provider does", async () => {
    await get(idp, "/oidc/jwks");
    const withOrigin = await get(idp, "/oidc/jwks", { origin: "https://app.example" });
    expect(withOrigin.headers["access-control-allow-origin"]).toBe("https://app.example");
    expect(withOrigin.headers.vary).toMatch(/origin/i);
    expect((await get(idp, "/oidc/jwks")).headers["access-control-allow-origin"]).toBe("*");
  });

  it("keeps the provider's per-Host endpoint URLs apart", async () => {
    const path = "/oidc/.well-known/openid-configuration";
    for (let round = 0; round < 2; round++) {
      const own = JSON.parse((await get(idp, path)).body) as Record<string, string>;
      const other = JSON.parse((await get(idp, path, { host: "other.example:8443" })).body) as Record<string, string>;
      expect(own.token_endpoint).toBe(`${idp.baseUrl}/oidc/token`);
      expect(other.token_endpoint).toBe("http://other.example:8443/oidc/token");
      expect(other.issuer).toBe(idp.issuer);
    }
  });

  it("remembers a bounded number of hosts and still answers every one correctly", async () => {
    const path = "/oidc/.well-known/openid-configuration";
    for (let index = 0; index < 40; index++) {
      const host = `host-${index}.example`;
      for (let round = 0; round < 2; round++) {
        const answer = await get(idp, path, { host });
        expect((JSON.parse(answer.body) as { jwks_uri: string }).jwks_uri).toBe(`http://${host}/oidc/jwks`);
      }
    }
    const own = JSON.parse((await get(idp, path)).body) as { jwks_uri: string };
    expect(own.jwks_uri).toBe(`${idp.issuer}/jwks`);
  });

  it("answers other methods and near-miss paths through the provider", async () => {
    const { hostname, port } = new URL(idp.baseUrl);
    const head = await new Promise<number>((resolve, reject) => {
      http.request({ hostname, port, path: "/oidc/jwks", method: "HEAD", agent: false }, (response) => resolve(response.statusCode!)).on("error", reject).end();
    });
    expect(head).toBe(200);
    // The provider's router tolerates a trailing slash and any case: the same document, from it.
    const jwks = (await get(idp, "/oidc/jwks")).body;
    for (const nearMiss of ["/oidc/jwks/", "/oidc/JWKS"]) {
      const answer = await get(idp, nearMiss);
      expect(answer.status).toBe(200);
      expect(answer.body).toBe(jwks);
    }
  });

  it("serves the new JWKS as soon as the signing keys change", async () => {
    const before = JSON.parse((await get(idp, "/oidc/jwks")).body) as { keys: { kid: string }[] };
    await get(idp, "/oidc/jwks");
    await rotateSigningKey(idp.config, { now: new Date() });
    await idp.app.keyRing.refresh();
    const answer = await get(idp, "/oidc/jwks");
    expect(answer.status, answer.body).toBe(200);
    const after = JSON.parse(answer.body) as { keys: { kid: string }[] };
    expect(after.keys.length).toBe(before.keys.length + 1);
    expect(after.keys.map((key) => key.kid)).toEqual(expect.arrayContaining(before.keys.map((key) => key.kid)));
  });
});
