// Host validation over raw sockets against a listening IdP (idp/http/host-validation.ts): a Host
// that cannot be parsed gets 400 and one the IdP does not serve gets 421, on every endpoint, with
// the security headers and without echoing the Host; the provider never builds a URL from either,
// so the discovery/JWKS memory holds only allowed hosts; probes may use any well-formed host; under
// TRUST_PROXY the X-Forwarded-Host is what counts, every value of it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loggerOptions } from "../../idp/logging.ts";
import { captureLogs } from "../support/log-capture.ts";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { formFraming, rawExchange, rawRequest, type RawAnswer } from "../support/raw-http.ts";
import { MALFORMED_HOSTS, NODE_REFUSES, watchProviderHosts } from "../support/hosts.ts";
import { authorizationQuery, REDIRECT_URI, POST_LOGOUT_URI } from "../support/oidc-flow.ts";

const portOf = (idp: TestIdp) => Number(new URL(idp.baseUrl).port);

type Ask = { method?: string; target: string; host?: string | string[]; headers?: [string, string][]; body?: string };

/** One request over a fresh connection; `host` undefined sends none, an array sends several. */
function ask(idp: TestIdp, { method = "GET", target, host = new URL(idp.issuer).host, headers = [], body = "" }: Ask): Promise<RawAnswer> {
  const hosts: [string, string][] = (Array.isArray(host) ? host : host === undefined ? [] : [host]).map((value) => ["Host", value]);
  return rawExchange(portOf(idp), rawRequest(`${method} ${target} HTTP/1.1`, [...hosts, ...headers, ...formFraming(body), ["Connection", "close"]], body), { head: method === "HEAD" });
}

/** What every refusal must look like: the one error renderer's body, the security headers, no echo. */
function expectRefusal(answer: RawAnswer, status: 400 | 421, sent?: string) {
  expect(answer.status, answer.body.toString()).toBe(status);
  expect(answer.headers["content-security-policy"]).toMatch(/default-src 'none'/);
  expect(answer.headers["x-content-type-options"]).toBe("nosniff");
  expect(answer.headers["x-frame-options"]).toBe("DENY");
  expect(answer.headers["cache-control"]).toBe("no-store");
  const body = answer.body.toString("latin1");
  if (sent) expect(body).not.toContain(sent);
  if (String(answer.headers["content-type"]).startsWith("application/json")) {
    expect(JSON.parse(body)).toMatchObject({ error: status === 421 ? "misdirected_request" : "invalid_request", error_description: expect.any(String) });
  } else {
    expect(answer.headers["content-type"]).toMatch(/^text\/html/);
  }
}

const AUTH_QUERY = authorizationQuery();

/** The malformed hosts that reach the IdP (Node's parser answers the others itself, without its headers). */
const UNPARSEABLE = MALFORMED_HOSTS.filter((host) => !NODE_REFUSES.test(host));

describe("host validation, no proxy (ISSUER on localhost)", () => {
  let idp: TestIdp;
  let interaction: { uid: string; cookie: string };

  beforeAll(async () => {
    idp = await startTestIdp({ env: { KEYS_RELOAD_INTERVAL: "0" } });
    await idp.admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: [REDIRECT_URI], postLogoutRedirectUris: [POST_LOGOUT_URI] });
    const auth = await fetch(`${idp.issuer}/auth?${AUTH_QUERY}`, { redirect: "manual" });
    const location = auth.headers.get("location")!;
    interaction = { uid: location.split("/").pop()!, cookie: auth.headers.getSetCookie().map((line) => line.split(";")[0]).join("; ") };
  });
  afterAll(async () => idp?.close());

  const endpoints = (): [string, Ask][] => [
    ["discovery", { target: "/oidc/.well-known/openid-configuration" }],
    ["jwks", { target: "/oidc/jwks" }],
    ["authorization", { target: `/oidc/auth?${AUTH_QUERY}` }],
    ["interaction resume", { target: `/oidc/auth/${interaction.uid}`, headers: [["Cookie", interaction.cookie]] }],
    ["end_session", { target: `/oidc/session/end?client_id=web&post_logout_redirect_uri=${encodeURIComponent(POST_LOGOUT_URI)}` }],
    ["token", { method: "POST", target: "/oidc/token", body: "grant_type=authorization_code&code=x&client_id=web" }],
    ["userinfo", { target: "/oidc/me", headers: [["Authorization", `Bearer ${"A".repeat(43)}`]] }],
    ["revocation", { method: "POST", target: "/oidc/token/revocation", body: "token=x&client_id=web" }],
    ["sign-in page", { target: `/interaction/${interaction.uid}`, headers: [["Cookie", interaction.cookie]] }],
    ["stylesheet", { target: "/assets/idp.css" }],
    ["unknown path", { target: "/nowhere" }],
  ];

  it("answers 400, never 500, for a Host that cannot be parsed, on every endpoint", async () => {
    for (const [name, request] of endpoints()) {
      for (const host of UNPARSEABLE) {
        const answer = await ask(idp, { ...request, host });
        expect(answer.status, `${name} with Host ${JSON.stringify(host)}: ${answer.body}`).toBe(400);
        expectRefusal(answer, 400, host);
      }
    }
  });

  it("renders the refusal as a page where pages are served, escaping nothing it was sent", async () => {
    const answer = await ask(idp, { target: `/interaction/${interaction.uid}`, host: "<script>alert(1)</script>" });
    expectRefusal(answer, 400, "<script>");
    expect(answer.body.toString()).not.toMatch(/alert\(1\)/);
  });

  it("answers bytes Node's parser refuses with the one renderer's JSON and the security headers", async () => {
    for (const request of ["GET /oidc/jwks HTTP/1.1\r\nHost: localhost\r\nNo colon here\r\n\r\n", "GET /\u0000 HTTP/1.1\r\n\r\n"]) {
      const answer = await rawExchange(portOf(idp), request);
      expect(answer.status, JSON.stringify(request)).toBe(400);
      expect(answer.headers["content-security-policy"]).toMatch(/default-src 'none'/);
      expect(answer.headers["x-content-type-options"]).toBe("nosniff");
      expect(JSON.parse(answer.body.toString())).toEqual({ error: "invalid_request", error_description: "the request could not be parsed as HTTP" });
    }
  });

  it("answers 400 for two Host headers, and for none except on the probes' paths", async () => {
    expectRefusal(await ask(idp, { target: "/oidc/jwks", host: [new URL(idp.issuer).host, "evil.example"] }), 400, "evil.example");
    expectRefusal(await ask(idp, { target: "/healthz", host: ["localhost", "localhost"] }), 400);
    const noHost = (target: string) => rawExchange(portOf(idp), `GET ${target} HTTP/1.0\r\n\r\n`);
    expectRefusal(await noHost("/oidc/.well-known/openid-configuration"), 400);
    expect((await noHost("/healthz")).status).toBe(200);
  });

  it("answers 421 for a well-formed host it does not serve, on every endpoint", async () => {
    for (const [name, request] of endpoints()) {
      for (const host of ["evil.example", "localhost.evil.example", `10.0.0.1:${portOf(idp)}`, "[2001:db8::1]"]) {
        const answer = await ask(idp, { ...request, host });
        expect(answer.status, `${name} with Host ${host}: ${answer.body}`).toBe(421);
        expectRefusal(answer, 421, host);
      }
    }
  });

  it("serves the issuer's host in any case, and the loopback names on any port", async () => {
    const port = portOf(idp);
    for (const host of [`localhost:${port}`, `LOCALHOST:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, "localhost", "127.0.0.1:8080"]) {
      const answer = await ask(idp, { target: "/oidc/.well-known/openid-configuration", host });
      expect(answer.status, host).toBe(200);
      expect(JSON.parse(answer.body.toString()).token_endpoint).toBe(`http://${host.toLowerCase()}/oidc/token`);
    }
  });

  it("checks an absolute-form target's authority, which the provider would build its URLs from", async () => {
    const own = new URL(idp.issuer).host;
    const foreign = await ask(idp, { target: "http://evil.example/oidc/.well-known/openid-configuration", host: own });
    expectRefusal(foreign, 421, "evil.example");
    // (Fastify itself refuses this one, before any hook, as a bad URL.)
    expectRefusal(await ask(idp, { target: "http://[::1/oidc/.well-known/openid-configuration", host: own }), 400);
    expectRefusal(await ask(idp, { target: "http://user@evil.example/oidc/jwks", host: own }), 400, "user@evil");
    const ownForm = await ask(idp, { target: `HTTP://${own}/oidc/.well-known/openid-configuration`, host: own });
    expect(ownForm.status).toBe(200);
    expect(JSON.parse(ownForm.body.toString()).jwks_uri).toBe(`${idp.issuer}/jwks`);
  });

  it("answers the probes and the metrics scrape for any well-formed host, never a malformed one", async () => {
    for (const target of ["/healthz", "/readyz", "/metrics", "/healthz?verbose=1"]) {
      expect((await ask(idp, { target, host: "10.1.2.3:3000" })).status, target).toBe(200);
      expectRefusal(await ask(idp, { target, host: "10.1.2.3:99999" }), 400, "99999");
    }
    expectRefusal(await ask(idp, { target: "/healthz/", host: "10.1.2.3:3000" }), 421, "10.1.2.3");
  });

  it("never lets the provider build a URL from a refused host, so the document memory keeps only allowed hosts", async () => {
    const seen = watchProviderHosts(idp);
    const own = new URL(idp.issuer).host;
    const discovery = "/oidc/.well-known/openid-configuration";
    // A near-miss path is never remembered, so the provider answers it: the watch sees its URLs.
    expect((await ask(idp, { target: `${discovery}/`, host: own })).status).toBe(200);
    expect(seen.length).toBeGreaterThan(0);
    expect(new Set(seen)).toEqual(new Set([own]));

    await ask(idp, { target: discovery, host: own });
    const remembered = seen.length;
    expect((await ask(idp, { target: discovery, host: own })).status).toBe(200);
    expect(seen.length, "discovery is answered from memory").toBe(remembered);

    // Far more hosts than the memory holds (32 documents): were any remembered, they would push out ours.
    for (let index = 0; index < 100; index++) {
      expect((await ask(idp, { target: discovery, host: `host-${index}.example` })).status).toBe(421);
      expect((await ask(idp, { target: "/oidc/jwks", host: `host-${index}.example:8443` })).status).toBe(421);
      expect((await ask(idp, { target: discovery, host: `127.0.0.1:${70_000 + index}` })).status).toBe(400);
    }
    expect(seen.length, "no refused request reached the provider").toBe(remembered);
    expect((await ask(idp, { target: discovery, host: own })).status).toBe(200);
    expect(seen.length, "ours is still remembered: the memory did not grow").toBe(remembered);
  });
});

describe("host validation behind a trusted proxy, with ALLOWED_HOSTS", () => {
  let idp: TestIdp;
  const discovery = "/oidc/.well-known/openid-configuration";

  beforeAll(async () => {
    idp = await startTestIdp({
      publicHost: "idp.internal", // not a loopback name: no loopback aliases
      env: { TRUST_PROXY: "true", ALLOWED_HOSTS: "auth.example.com, IDP:3000", KEYS_RELOAD_INTERVAL: "0" },
    });
  });
  afterAll(async () => idp?.close());

  const viaProxy = (forwardedHost: string, extra: [string, string][] = [], host = "upstream:8080") =>
    ask(idp, { target: discovery, host, headers: [["X-Forwarded-Host", forwardedHost], ["X-Forwarded-Proto", "https"], ...extra] });

  it("serves the forwarded host when it is allowed, whatever the Host between proxy and IdP", async () => {
    const answer = await viaProxy("auth.example.com");
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body.toString()).token_endpoint).toBe("https://auth.example.com/oidc/token");
    expect((await viaProxy("Auth.Example.Com:8443")).status).toBe(200); // an entry without a port allows any
  });

  it("refuses a forwarded host it does not serve, wherever it stands in the list", async () => {
    expectRefusal(await viaProxy("evil.example"), 421, "evil.example");
    // Koa (the provider) takes the first value, Fastify the last: each must be allowed.
    expectRefusal(await viaProxy("evil.example, auth.example.com"), 421, "evil.example");
    expectRefusal(await viaProxy("auth.example.com, evil.example"), 421, "evil.example");
    expectRefusal(await viaProxy("auth.example.com", [["X-Forwarded-Host", "evil.example"]]), 421, "evil.example");
  });

  it("refuses a malformed forwarded host or protocol, or a malformed Host behind it", async () => {
    for (const forwardedHost of ["[::1", "auth.example.com:99999", "auth.example.com,", " , ", "caf\xc3\xa9.example"]) {
      expectRefusal(await viaProxy(forwardedHost), 400, forwardedHost);
    }
    for (const proto of ["ftp", "[", "https, javascript", "h ttp"]) {
      expectRefusal(await ask(idp, { target: discovery, host: "auth.example.com", headers: [["X-Forwarded-Proto", proto]] }), 400, proto);
    }
    expectRefusal(await viaProxy("auth.example.com", [], "[::1"), 400, "[::1");
  });

  it("remembers discovery per forwarded host, not per Host between proxy and IdP", async () => {
    const seen = watchProviderHosts(idp);
    const forwarded = "auth.example.com:9443"; // not asked for before: the first answer is the provider's
    expect((await viaProxy(forwarded, [], "upstream-0:8080")).status).toBe(200);
    const remembered = seen.length;
    expect(remembered).toBeGreaterThan(0);
    for (let index = 1; index <= 40; index++) {
      const answer = await viaProxy(forwarded, [], `upstream-${index}:8080`);
      expect(JSON.parse(answer.body.toString()).jwks_uri).toBe(`https://${forwarded}/oidc/jwks`);
    }
    expect(seen.length, "answered from memory whatever the Host").toBe(remembered);
    expect(new Set(seen)).toEqual(new Set([forwarded]));
  });

  it("without X-Forwarded-Host, checks the Host: the issuer's, the listed ones (port as given), nothing else", async () => {
    const issuerHost = new URL(idp.issuer).host;
    expect((await ask(idp, { target: discovery, host: issuerHost })).status).toBe(200);
    expect((await ask(idp, { target: discovery, host: issuerHost.toUpperCase() })).status).toBe(200);
    // The compose network's name for the IdP, as the Convex backend fetches the JWKS.
    expect((await ask(idp, { target: "/oidc/jwks", host: "idp:3000" })).status).toBe(200);
    expectRefusal(await ask(idp, { target: "/oidc/jwks", host: "idp:3001" }), 421, "idp:3001");
    expectRefusal(await ask(idp, { target: "/oidc/jwks", host: "idp" }), 421);
    // The issuer's host is not a loopback name: no loopback aliases.
    expectRefusal(await ask(idp, { target: discovery, host: `localhost:${portOf(idp)}` }), 421);
    expect((await ask(idp, { target: "/readyz", host: "10.0.0.7:3000" })).status).toBe(200);
  });
});

describe("host validation in the logs", () => {
  it("logs each refusal with what was refused, quoted, and warns about ALLOWED_HOSTS=* in production", async () => {
    const { stream, lines } = captureLogs();
    const idp = await startTestIdp({
      env: { NODE_ENV: "production", GENERATE_KEYS: "true", ALLOWED_HOSTS: "*" },
      logger: { ...(loggerOptions("info") as object), stream },
    });
    try {
      expect(lines.map((line) => JSON.parse(line) as { level: number; msg: string }).filter((line) => line.level === 40).map((line) => line.msg)).toEqual(
        expect.arrayContaining([expect.stringContaining("ALLOWED_HOSTS contains *")]),
      );
      // Any well-formed host is served; a malformed one is still refused.
      expect((await ask(idp, { target: "/oidc/.well-known/openid-configuration", host: "anything.example" })).status).toBe(200);
      expect((await ask(idp, { target: "/oidc/jwks", host: 'evil"\t[::1' })).status).toBe(400);
      const refusals = lines.map((line) => JSON.parse(line) as { msg: string; refused?: string; reqId?: string }).filter((line) => line.msg === "request refused by host validation");
      expect(refusals).toEqual([expect.objectContaining({ refused: 'Host "evil\\"\\t[::1"', reqId: expect.any(String) })]);
    } finally {
      await idp.close();
    }
  });
});
