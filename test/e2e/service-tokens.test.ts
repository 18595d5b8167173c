// Service tokens end to end: a service client gets an RS256 JWT with client_credentials that passes
// Convex's customJwt checks for the service audience only; people's clients cannot use the grant.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as oidc from "openid-client";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { verifyConvexToken, type CustomJwtProvider } from "../support/convex-verifier.ts";
import { discover, REDIRECT_URI } from "../support/oidc-flow.ts";
import { Browser } from "../support/browser.ts";

let idp: TestIdp;
let workerSecret: string;
let appSecret: string;

beforeAll(async () => {
  idp = await startTestIdp();
  workerSecret = (await idp.admin.addClient({ id: "inference-worker", service: true, public: false, firstParty: false, redirectUris: [] })).secret!;
  appSecret = (await idp.admin.addClient({ id: "web-backend", public: false, firstParty: true, redirectUris: [REDIRECT_URI] })).secret!;
  await idp.admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
});
afterAll(async () => idp?.close());

const provider = (applicationID: string): CustomJwtProvider => ({
  type: "customJwt",
  issuer: idp.issuer,
  jwks: `${idp.issuer}/jwks`,
  algorithm: "RS256",
  applicationID,
});

describe("client_credentials for a service client", () => {
  it("issues a short-lived RS256 JWT that Convex accepts for the service audience", async () => {
    const worker = await discover(idp.issuer, "inference-worker", workerSecret);
    const { access_token: token, expires_in } = await oidc.clientCredentialsGrant(worker);
    expect(expires_in).toBe(idp.config.serviceTokenTtlSeconds);

    const header = decodeProtectedHeader(token);
    expect(header).toMatchObject({ alg: "RS256", typ: "at+jwt" });
    expect(header.kid).toBeTypeOf("string");
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({
      iss: idp.issuer,
      sub: "inference-worker",
      aud: idp.config.serviceTokenAudience,
      client_id: "inference-worker",
      token_use: "service",
    });
    expect(claims.exp! - claims.iat!).toBe(idp.config.serviceTokenTtlSeconds);

    const identity = await verifyConvexToken(token, [provider("web"), provider(idp.config.serviceTokenAudience)]);
    expect(identity).toMatchObject({ subject: "inference-worker", tokenIdentifier: `${idp.issuer}|inference-worker`, token_use: "service" });
  });

  it("is refused by Convex under the web client's audience", async () => {
    const worker = await discover(idp.issuer, "inference-worker", workerSecret);
    const { access_token: token } = await oidc.clientCredentialsGrant(worker);
    await expect(verifyConvexToken(token, [provider("web")])).rejects.toMatchObject({ code: "no_provider" });
  });

  it("refuses a wrong secret", async () => {
    const worker = await discover(idp.issuer, "inference-worker", "wrong secret");
    await expect(oidc.clientCredentialsGrant(worker)).rejects.toMatchObject({ status: 401 });
  });
});

describe("clients that are not services", () => {
  it("cannot use client_credentials", async () => {
    const app = await discover(idp.issuer, "web-backend", appSecret);
    await expect(oidc.clientCredentialsGrant(app)).rejects.toMatchObject({ status: 400, error: "invalid_request", error_description: "requested grant type is not allowed for this client" });
  });

  it("a service client cannot sign a person in", async () => {
    const worker = await discover(idp.issuer, "inference-worker", workerSecret);
    const url = oidc.buildAuthorizationUrl(worker, { redirect_uri: REDIRECT_URI, scope: "openid" });
    const page = await new Browser().request(url.toString());
    expect(page.status).toBe(400);
    expect(page.location).toBeUndefined();
  });
});

describe("CORS at the token endpoint", () => {
  const preflight = (origin: string) =>
    fetch(`${idp.issuer}/token`, {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
    });
  const post = (origin: string, clientId: string) =>
    fetch(`${idp.issuer}/token`, {
      method: "POST",
      headers: { origin, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: "x", client_id: clientId }),
    });

  it("answers a public client's registered origin", async () => {
    const origin = new URL(REDIRECT_URI).origin;
    expect((await preflight(origin)).headers.get("access-control-allow-origin")).toBe(origin);
    const response = await post(origin, "web");
    expect(response.status).toBe(400); // the bogus refresh token, not CORS
    expect(response.headers.get("access-control-allow-origin")).toBe(origin);
  });

  it("does not answer other origins, nor confidential clients", async () => {
    const other = await post("https://evil.example", "web");
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
    const confidential = await post(new URL(REDIRECT_URI).origin, "web-backend");
    expect(confidential.headers.get("access-control-allow-origin")).toBeNull();
  });
});
