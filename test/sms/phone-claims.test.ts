// The `phone` scope: the standard phone_number and phone_number_verified and their short aliases,
// in the ID token of a real sign-in (openid-client and the sign-in pages), only for a person with a
// number and only when the scope was asked for.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type * as oidc from "openid-client";
import { userClaims } from "../../idp/oidc/account.ts";
import type { User } from "../../idp/store/users.ts";
import { Browser } from "../support/browser.ts";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { discover, exchange, signIn, startAuthorization, REDIRECT_URI } from "../support/oidc-flow.ts";

const PHONE_CLAIMS = ["phone_number", "phone_number_verified", "phone", "phone_verified"];

describe("userClaims", () => {
  const user: User = {
    id: "u1",
    email: "a@example.com",
    emailVerified: true,
    name: null,
    picture: null,
    passwordHash: null,
    disabled: false,
    phone: null,
    phoneVerified: false,
    roles: [],
    createdAt: new Date(0),
    updatedAt: new Date(1_700_000_000_000),
  };

  it("has no phone claims for a person without a number", () => {
    for (const claim of PHONE_CLAIMS) expect(userClaims(user)).not.toHaveProperty(claim);
  });

  it("gives the number under both names, and whether it is verified as a boolean", () => {
    expect(userClaims({ ...user, phone: "+4915112345678", phoneVerified: true })).toMatchObject({
      phone_number: "+4915112345678",
      phone_number_verified: true,
      phone: "+4915112345678",
      phone_verified: true,
    });
    expect(userClaims({ ...user, phone: "+4915112345678", phoneVerified: false })).toMatchObject({ phone_number_verified: false, phone_verified: false });
  });
});

describe("the phone scope in a real sign-in", () => {
  let idp: TestIdp;
  let web: oidc.Configuration;
  const alice = { email: "alice@example.com", password: "correct horse battery" };
  const bob = { email: "bob@example.com", password: "another long passphrase" };

  beforeAll(async () => {
    idp = await startTestIdp();
    await idp.admin.addUser({ ...alice, emailVerified: true, phone: "+49 151 1234 5678", phoneVerified: true });
    await idp.admin.addUser(bob);
    await idp.admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
    web = await discover(idp.issuer, "web");
  });
  afterAll(async () => idp?.close());

  async function idTokenClaims(credentials: { email: string; password: string }, scope: string) {
    const start = await startAuthorization(web, { scope });
    const page = await signIn(new Browser(), start, credentials);
    expect(page.url.startsWith(REDIRECT_URI), page.html.slice(0, 300)).toBe(true);
    return (await exchange(web, start, page.url)).claims()!;
  }

  it("is advertised with its claims", () => {
    const metadata = web.serverMetadata();
    expect(metadata.scopes_supported).toContain("phone");
    expect(metadata.claims_supported).toEqual(expect.arrayContaining(PHONE_CLAIMS));
  });

  it("releases the verified number under the standard names and the aliases", async () => {
    const claims = await idTokenClaims(alice, "openid phone");
    expect(claims).toMatchObject({ phone_number: "+4915112345678", phone_number_verified: true, phone: "+4915112345678", phone_verified: true });
    expect(claims).not.toHaveProperty("email");
  });

  it("releases nothing of the number without the scope, and nothing for a person without one", async () => {
    const withoutScope = await idTokenClaims(alice, "openid email");
    expect(withoutScope.email).toBe(alice.email);
    for (const claim of PHONE_CLAIMS) expect(withoutScope).not.toHaveProperty(claim);
    const noNumber = await idTokenClaims(bob, "openid phone");
    for (const claim of PHONE_CLAIMS) expect(noNumber).not.toHaveProperty(claim);
  });

  it("follows the operator's change in the next sign-in: unverified, then removed", async () => {
    await idp.admin.setPhone(alice.email, "+43 664 1234567", false);
    expect(await idTokenClaims(alice, "openid phone")).toMatchObject({ phone_number: "+436641234567", phone_number_verified: false, phone_verified: false });
    await idp.admin.setPhone(alice.email, null, false);
    const removed = await idTokenClaims(alice, "openid phone");
    for (const claim of PHONE_CLAIMS) expect(removed).not.toHaveProperty(claim);
  });
});
