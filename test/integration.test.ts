// The app through app.inject(), once on real PostgreSQL and once on the embedded database:
// discovery and JWKS as Convex needs them, the pages, CSRF, and 4xx (never 5xx) for malformed input.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestIdp, type TestIdp } from "./support/idp.ts";
import { findForm } from "./support/browser.ts";
import { REDIRECT_URI } from "./support/oidc-flow.ts";

describe.each(["postgres", "embedded"] as const)("on %s", (database) => {
  let idp: TestIdp;

  beforeAll(async () => {
    idp = await startTestIdp({ database, listen: false });
    await idp.admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
    await idp.admin.addUser({ email: "alice@example.com", password: "correct horse battery" });
  });
  afterAll(async () => idp?.close());

  type InjectOptions = { method: "GET" | "POST"; url: string; headers?: Record<string, string>; payload?: string };
  // Endpoints in discovery follow the Host header, as a browser or Convex would send it.
  const inject = (options: InjectOptions) =>
    idp.app.inject({ ...options, headers: { host: new URL(idp.issuer).host, ...options.headers } });

  /** Starts an authorization request and returns the login page's URL and its cookies. */
  async function openLoginPage(extra: Record<string, string> = {}) {
    const query = new URLSearchParams({
      client_id: "web",
      response_type: "code",
      scope: "openid email",
      redirect_uri: REDIRECT_URI,
      code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
      code_challenge_method: "S256",
      ...extra,
    });
    const auth = await inject({ method: "GET", url: `/oidc/auth?${query}` });
    expect(auth.statusCode).toBe(303);
    const cookie = auth.cookies.map((c: { name: string; value: string }) => `${c.name}=${c.value}`).join("; ");
    const page = await inject({ method: "GET", url: auth.headers.location as string, headers: { cookie } });
    const csrfCookie = page.cookies.map((c: { name: string; value: string }) => `${c.name}=${c.value}`).join("; ");
    return { path: auth.headers.location as string, page, cookie: `${cookie}; ${csrfCookie}` };
  }

  it("publishes discovery whose issuer is the configured string, byte for byte", async () => {
    const response = await inject({ method: "GET", url: "/oidc/.well-known/openid-configuration" });
    expect(response.statusCode).toBe(200);
    const discovery = response.json();
    expect(discovery.issuer).toBe(idp.issuer);
    expect(discovery.jwks_uri).toBe(`${idp.issuer}/jwks`);
    expect(discovery.id_token_signing_alg_values_supported).toEqual(["RS256"]);
    expect(discovery.code_challenge_methods_supported).toEqual(["S256"]);
    expect(discovery.grant_types_supported).toEqual(expect.arrayContaining(["authorization_code", "refresh_token"]));
    for (const endpoint of ["authorization", "token", "userinfo", "revocation", "end_session"]) {
      expect(discovery[`${endpoint}_endpoint`]).toMatch(new RegExp(`^${idp.issuer}/`));
    }
  });

  it("serves the JWKS as application/json with a short explicit Cache-Control and RSA keys only", async () => {
    const response = await inject({ method: "GET", url: "/oidc/jwks" });
    expect(response.statusCode).toBe(200);
    expect(response.headers["content-type"]).toMatch(/^application\/json(; charset=utf-8)?$/);
    expect(response.headers["cache-control"]).toBe(`public, max-age=${idp.config.jwksMaxAgeSeconds}`);
    const { keys } = response.json();
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key).toMatchObject({ kty: "RSA", alg: "RS256", use: "sig" });
      expect(key.kid).toBeTypeOf("string");
      expect(key.d).toBeUndefined(); // never the private part
    }
  });

  it("advertises https endpoints behind a TLS-terminating proxy only when told to trust it", async () => {
    const headers = { "x-forwarded-proto": "https", host: "localhost" };
    const untrusted = await inject({ method: "GET", url: "/oidc/.well-known/openid-configuration", headers });
    expect(untrusted.json().token_endpoint).toMatch(/^http:/);

    const proxied = await startTestIdp({ database: "postgres", listen: false, env: { TRUST_PROXY: "true" } });
    try {
      const response = await proxied.app.inject({ method: "GET", url: "/oidc/.well-known/openid-configuration", headers });
      expect(response.json().token_endpoint).toBe("https://localhost/oidc/token");
      expect(response.json().issuer).toBe(proxied.issuer); // the issuer is configured, never derived
    } finally {
      await proxied.close();
    }
  });

  it("renders an accessible login page that escapes what it echoes", async () => {
    const { page } = await openLoginPage({ login_hint: '"><script>alert(1)</script>' });
    expect(page.statusCode).toBe(200);
    expect(page.headers["content-type"]).toMatch(/^text\/html/);
    const html = page.body;
    expect(html).toContain('<html lang="en">');
    expect(html).toMatch(/<label for="email">Email<\/label>\s*<input id="email" name="email" type="email" autocomplete="username webauthn"/);
    expect(html).toMatch(/<label for="password">Password<\/label>\s*<input id="password" name="password" type="password" autocomplete="current-password"/);
    // One script, the IdP's own passkey file; nothing the request echoed.
    expect([...html.matchAll(/<script\b[^>]*>/g)].map(([tag]) => tag)).toEqual([expect.stringMatching(/^<script src="\/assets\/passkey-sign-in\.js\?v=[\w-]+" defer>$/)]);
    expect(html).toContain("&quot;&gt;&lt;script&gt;");
    expect(findForm(html, "/login").hidden._csrf).toBeTypeOf("string");
  });

  it("refuses a login form posted without its CSRF token, and signs nobody in", async () => {
    const { path, cookie } = await openLoginPage();
    const response = await inject({
      method: "POST",
      url: `${path}/login`,
      headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
      payload: new URLSearchParams({ email: "alice@example.com", password: "correct horse battery", _csrf: "forged" }).toString(),
    });
    expect(response.statusCode).toBe(403);
    expect(response.headers["content-type"]).toMatch(/^text\/html/);
    expect(response.body).toContain("Form expired");
    expect(response.headers.location).toBeUndefined();
  });

  it("signs in with the CSRF token from the page", async () => {
    const { path, page, cookie } = await openLoginPage();
    const { _csrf } = findForm(page.body, "/login").hidden;
    const response = await inject({
      method: "POST",
      url: `${path}/login`,
      headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
      payload: new URLSearchParams({ email: "alice@example.com", password: "correct horse battery", _csrf: _csrf! }).toString(),
    });
    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toMatch(/\/oidc\/auth\//);
  });

  it("shows a clear page for an expired or unknown interaction", async () => {
    const response = await inject({ method: "GET", url: "/interaction/doesnotexist" });
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain("This sign-in has expired");
  });

  it("shows a clear page for an unknown client", async () => {
    const response = await inject({ method: "GET", url: `/oidc/auth?client_id=nope&response_type=code&scope=openid&redirect_uri=${REDIRECT_URI}` });
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain("Unknown application");
    expect(response.body).not.toMatch(/at \w+ \(|node_modules/); // no stack trace
  });

  const form = { "content-type": "application/x-www-form-urlencoded" };
  it("returns an unsupported response type to the registered redirect URI as an OAuth error", async () => {
    const response = await inject({
      method: "GET",
      url: `/oidc/auth?client_id=web&response_type=token&scope=openid&redirect_uri=${REDIRECT_URI}`,
    });
    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toMatch(new RegExp(`^${REDIRECT_URI}#error=unsupported_response_type&`));
  });

  const malformed: { name: string; request: InjectOptions }[] = [
    { name: "token without a body", request: { method: "POST", url: "/oidc/token", headers: form } },
    { name: "token with JSON", request: { method: "POST", url: "/oidc/token", headers: { "content-type": "application/json" }, payload: '{"grant_type":"x"}' } },
    { name: "token with an unknown grant", request: { method: "POST", url: "/oidc/token", headers: form, payload: "grant_type=nope&client_id=web" } },
    { name: "token with a bogus code", request: { method: "POST", url: "/oidc/token", headers: form, payload: "grant_type=authorization_code&client_id=web&code=x&redirect_uri=x&code_verifier=x" } },
    { name: "token with a bogus refresh token", request: { method: "POST", url: "/oidc/token", headers: form, payload: "grant_type=refresh_token&client_id=web&refresh_token=x" } },
    { name: "token with repeated parameters", request: { method: "POST", url: "/oidc/token", headers: form, payload: "grant_type=refresh_token&grant_type=refresh_token&client_id=web" } },
    { name: "token with broken basic auth", request: { method: "POST", url: "/oidc/token", headers: { ...form, authorization: "Basic %%%" }, payload: "grant_type=refresh_token" } },
    { name: "token with invalid percent-encoding", request: { method: "POST", url: "/oidc/token", headers: form, payload: "grant_type=%E0%A4%A&client_id=web" } },
    { name: "userinfo without a token", request: { method: "GET", url: "/oidc/me" } },
    { name: "userinfo with a bogus token", request: { method: "GET", url: "/oidc/me", headers: { authorization: "Bearer nope" } } },
    { name: "revocation without a token", request: { method: "POST", url: "/oidc/token/revocation", headers: form, payload: "client_id=web" } },
    { name: "authorization without parameters", request: { method: "GET", url: "/oidc/auth" } },
    { name: "end_session with a garbage id_token_hint", request: { method: "GET", url: "/oidc/session/end?id_token_hint=garbage" } },
    { name: "end_session confirm without xsrf", request: { method: "POST", url: "/oidc/session/end/confirm", headers: form, payload: "logout=yes" } },
    { name: "jwks with POST", request: { method: "POST", url: "/oidc/jwks" } },
    { name: "a login post for an unknown interaction", request: { method: "POST", url: "/interaction/abc/login", headers: form, payload: "email=a&password=b&_csrf=c" } },
    { name: "a login post with a bad uid", request: { method: "POST", url: "/interaction/..%2F..%2Fetc/login", headers: form, payload: "email=a" } },
    { name: "a login post missing fields", request: { method: "POST", url: "/interaction/abc/login", headers: form, payload: "" } },
    { name: "a login post with an oversized body", request: { method: "POST", url: "/interaction/abc/login", headers: form, payload: `email=a&password=${"x".repeat(100_000)}&_csrf=c` } },
    { name: "a consent post with JSON", request: { method: "POST", url: "/interaction/abc/confirm", headers: { "content-type": "application/json" }, payload: "{" } },
  ];

  it.each(malformed)("answers $name with a 4xx and no stack trace", async ({ request }) => {
    const before = await counts();
    const response = await inject(request);
    expect(response.statusCode, response.body.slice(0, 300)).toBeGreaterThanOrEqual(400);
    expect(response.statusCode, response.body.slice(0, 300)).toBeLessThan(500);
    expect(response.body).not.toMatch(/\n\s+at |node_modules/);
    expect(await counts()).toEqual(before); // a refused request writes nothing
  });

  async function counts() {
    const { rows } = await idp.database.db.query(
      "SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM clients) AS clients, (SELECT count(*) FROM oidc_payloads) AS payloads",
    );
    return rows[0];
  }
});
