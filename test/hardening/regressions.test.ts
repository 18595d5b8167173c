// Regression tests for the server errors the fuzz suite (fuzz.test.ts) found, each pinned by the
// smallest request that caused it: a NUL character that reached PostgreSQL (which cannot store or
// compare one) answered 500, and a URL with broken percent-encoding was answered by Fastify
// before any hook, without the security headers.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { findForm } from "../support/browser.ts";
import { authorizationQuery, REDIRECT_URI } from "../support/oidc-flow.ts";

let idp: TestIdp;
let partnerAuth: string;

beforeAll(async () => {
  idp = await startTestIdp({ listen: false, env: { LOCKOUT_THRESHOLD: "0", SIGN_IN_DELAY_MAX_MS: "0" } });
  await idp.admin.addClient({ id: "web", name: "Web", public: true, firstParty: true, redirectUris: [REDIRECT_URI], postLogoutRedirectUris: [REDIRECT_URI] });
  const { secret } = await idp.admin.addClient({ id: "partner", public: false, firstParty: false, redirectUris: [REDIRECT_URI] });
  partnerAuth = `Basic ${Buffer.from(`partner:${secret}`).toString("base64")}`;
});

afterAll(async () => idp?.close());

const form = "application/x-www-form-urlencoded";

describe("a NUL character in a parameter is a 400, never a 500", () => {
  it("in the authorization request's client_id", async () => {
    const response = await idp.app.inject({ url: `/oidc/auth?${authorizationQuery({ client_id: "web\u0000" })}`, headers: { accept: "text/html" } });
    expect(response.statusCode).toBe(400);
    expect(response.headers.location).toBeUndefined();
  });

  it("in a value the authorization request would store (state)", async () => {
    const response = await idp.app.inject({ url: `/oidc/auth?${authorizationQuery({ state: "a\u0000b" })}`, headers: { accept: "application/json" } });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: "invalid_request" });
  });

  it("in end_session's state, which the provider saves in the session after its own error handling", async () => {
    const response = await idp.app.inject({ url: `/oidc/session/end?client_id=web&state=%00`, headers: { accept: "application/json" } });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: "invalid_request" });
  });

  it("in a code or refresh token at the token endpoint", async () => {
    for (const payload of ["grant_type=authorization_code&code=a%00b&redirect_uri=" + encodeURIComponent(REDIRECT_URI), "grant_type=refresh_token&refresh_token=%00"]) {
      const response = await idp.app.inject({ method: "POST", url: "/oidc/token", headers: { "content-type": form, authorization: partnerAuth }, payload });
      expect(response.statusCode, payload).toBe(400);
      expect(response.json(), payload).toMatchObject({ error: "invalid_grant" });
    }
  });

  it("in a token to revoke, and in the resume and interaction ids", async () => {
    const revoked = await idp.app.inject({ method: "POST", url: "/oidc/token/revocation", headers: { "content-type": form, authorization: partnerAuth }, payload: "token=%00" });
    expect(revoked.statusCode).toBe(200);
    const resumed = await idp.app.inject({ url: "/oidc/auth/a%00b", headers: { cookie: "_interaction_resume=a\u0000b" } });
    expect(resumed.statusCode).toBe(400);
  });

  it("in the email typed into the sign-in form", async () => {
    const auth = await idp.app.inject({ url: `/oidc/auth?${authorizationQuery()}` });
    const uid = String(auth.headers.location).split("/").pop()!;
    const cookies = [auth.headers["set-cookie"] ?? []].flat().map((line) => String(line).split(";")[0]);
    const page = await idp.app.inject({ url: `/interaction/${uid}`, headers: { cookie: cookies.join("; ") } });
    const csrf = findForm(page.body, "/login").hidden._csrf!;
    const cookie = [...cookies, ...[page.headers["set-cookie"] ?? []].flat().map((line) => String(line).split(";")[0])].join("; ");
    const response = await idp.app.inject({
      method: "POST",
      url: `/interaction/${uid}/login`,
      headers: { cookie, "content-type": form },
      payload: new URLSearchParams({ email: "alice@example.com\u0000", password: "a long enough passphrase", _csrf: csrf }).toString(),
    });
    expect(response.statusCode).toBe(400);
    expect(response.headers["content-type"]).toMatch(/^text\/html/);
  });
});

describe("a URL with broken percent-encoding", () => {
  for (const url of ["/interaction/%E0%A4%A/login", "/oidc/%zz", "/%C0%AF%"]) {
    it(`${url}: a 400 through the one error handler, with the security headers`, async () => {
      const response = await idp.app.inject({ url });
      expect(response.statusCode).toBe(400);
      expect(response.headers["content-security-policy"]).toMatch(/default-src 'none'/);
      expect(response.headers["x-content-type-options"]).toBe("nosniff");
      expect(response.headers["x-frame-options"]).toBe("DENY");
      expect(response.headers["cache-control"]).toBe("no-store");
      if (url.startsWith("/interaction")) expect(response.headers["content-type"]).toMatch(/^text\/html/);
      else expect(response.json()).toMatchObject({ error: "invalid_request" });
    });
  }
});
