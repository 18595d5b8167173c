// Roles in ID tokens and scopes in service tokens, end to end: openid-client signs in through the
// real login form; only a client registered with rolesClaim gets `roles` (an array, the same after a
// refresh, updated once an operator changes it), and Convex's customJwt form passes it as an array.
// A service client gets every scope it holds when it asks for none, fewer when it asks for fewer,
// and never one it does not hold.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as oidc from "openid-client";
import { decodeJwt } from "jose";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { Browser } from "../support/browser.ts";
import { discover, exchange, signIn, startAuthorization, REDIRECT_URI } from "../support/oidc-flow.ts";
import { verifyConvexToken } from "../support/convex-verifier.ts";

const alice = { email: "alice@example.com", password: "correct horse battery" };
let idp: TestIdp;
let workerSecret: string;

beforeAll(async () => {
  idp = await startTestIdp();
  await idp.admin.addUser({ ...alice, emailVerified: true, roles: ["editor", "admin", "editor"] });
  await idp.admin.addClient({ id: "with-roles", public: true, firstParty: true, redirectUris: [REDIRECT_URI], rolesClaim: true });
  await idp.admin.addClient({ id: "without-roles", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
  workerSecret = (await idp.admin.addClient({ id: "admin-bot", service: true, public: false, firstParty: false, redirectUris: [], scopes: ["admin:users:read", "admin:audit:read"] }))
    .secret!;
});
afterAll(async () => idp?.close());

async function signedIn(clientId: string) {
  const config = await discover(idp.issuer, clientId);
  const start = await startAuthorization(config);
  const page = await signIn(new Browser(), start, alice);
  return { config, tokens: await exchange(config, start, page.url) };
}

describe("the roles claim", () => {
  it("is a sorted array in the ID tokens of a client registered with it, unchanged by a refresh, changed by an operator", async () => {
    const { config, tokens } = await signedIn("with-roles");
    expect(decodeJwt(tokens.id_token!).roles).toEqual(["admin", "editor"]);
    const identity = await verifyConvexToken(tokens.id_token!, [{ type: "customJwt", issuer: idp.issuer, jwks: `${idp.issuer}/jwks`, algorithm: "RS256", applicationID: "with-roles" }]);
    expect(identity.roles).toEqual(["admin", "editor"]);

    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(decodeJwt(refreshed.id_token!).roles).toEqual(["admin", "editor"]);

    await idp.admin.setRoles(alice.email, { remove: ["editor"], add: ["billing"] });
    const again = await oidc.refreshTokenGrant(config, refreshed.refresh_token!);
    expect(decodeJwt(again.id_token!).roles).toEqual(["admin", "billing"]);
  });

  it("is an empty array, not absent, for a person without roles", async () => {
    await idp.admin.addUser({ email: "carol@example.com", password: "carol's long password" });
    const config = await discover(idp.issuer, "with-roles");
    const start = await startAuthorization(config);
    const page = await signIn(new Browser(), start, { email: "carol@example.com", password: "carol's long password" });
    expect(decodeJwt((await exchange(config, start, page.url)).id_token!).roles).toEqual([]);
  });

  it("is not in the ID tokens (nor userinfo) of other clients", async () => {
    const { config, tokens } = await signedIn("without-roles");
    expect(decodeJwt(tokens.id_token!)).not.toHaveProperty("roles");
    const info = await oidc.fetchUserInfo(config, tokens.access_token, decodeJwt(tokens.id_token!).sub!);
    expect(info).not.toHaveProperty("roles");
  });

  it("refuses bad role names", async () => {
    await expect(idp.admin.setRoles(alice.email, { add: ["Not A Role"] })).rejects.toThrow(/not a role name/);
    await expect(idp.admin.addUser({ email: "dave@example.com", password: "dave's long password", roles: ["x y"] })).rejects.toThrow(/not a role name/);
    expect(await idp.admin.users.findByEmail("dave@example.com")).toBeUndefined();
  });
});

describe("service token scopes", () => {
  const grant = async (parameters?: Record<string, string>) => {
    const worker = await discover(idp.issuer, "admin-bot", workerSecret);
    return oidc.clientCredentialsGrant(worker, parameters);
  };

  it("a request without scope gets every scope the client holds", async () => {
    const token = await grant();
    expect((token.scope ?? "").split(" ").sort()).toEqual(["admin:audit:read", "admin:users:read"]);
    expect(String(decodeJwt(token.access_token).scope).split(" ").sort()).toEqual(["admin:audit:read", "admin:users:read"]);
  });

  it("a request can narrow them, never widen them", async () => {
    expect(decodeJwt((await grant({ scope: "admin:audit:read" })).access_token).scope).toBe("admin:audit:read");
    const widened = decodeJwt((await grant({ scope: "admin:users:read admin:keys" })).access_token);
    expect(widened.scope).toBe("admin:users:read");
  });

  it("a service client without scopes gets none", async () => {
    const secret = (await idp.admin.addClient({ id: "plain-worker", service: true, public: false, firstParty: false, redirectUris: [] })).secret!;
    const token = await oidc.clientCredentialsGrant(await discover(idp.issuer, "plain-worker", secret));
    expect(decodeJwt(token.access_token).scope).toBeUndefined();
  });

  it("only admin scopes, only for service clients", async () => {
    await expect(idp.admin.addClient({ id: "x1", service: true, public: false, firstParty: false, redirectUris: [], scopes: ["openid"] })).rejects.toThrow(/not a scope/);
    await expect(idp.admin.addClient({ id: "x2", public: true, firstParty: true, redirectUris: [REDIRECT_URI], scopes: ["admin:keys"] })).rejects.toThrow(/only a service client/);
  });
});
