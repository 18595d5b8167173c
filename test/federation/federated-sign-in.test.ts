// Who an upstream identity is here (federation/federated-sign-in.ts) on a real PostgreSQL, given the
// claims an upstream verified: the amr a trusted provider reports is carried and an untrusted one's
// is not; the email follows a trusted provider that verified it, never an untrusted one, and never
// onto another account's address; name and picture follow every provider; a disabled account is
// refused; the identity table keeps (issuer, subject) unique.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPostgresTestDatabase, type TestDatabase } from "../support/database.ts";
import { createFederatedSignIn, type FederatedSignIn } from "../../idp/federation/federated-sign-in.ts";
import type { UpstreamClaims } from "../../idp/federation/upstream-client.ts";
import { storesOver } from "../../idp/store/stores.ts";
import { createSecurityNotices } from "../../idp/accounts/security-notices.ts";
import type { UpstreamProvider } from "../../idp/store/upstreams.ts";

let database: TestDatabase;
let federation: FederatedSignIn;
let trusted: UpstreamProvider;
let untrusted: UpstreamProvider;
const stores = () => storesOver(database.db, () => new Date());

beforeAll(async () => {
  database = await createPostgresTestDatabase();
  federation = createFederatedSignIn({ db: database.db, stores: (queryable) => storesOver(queryable, () => new Date()), notices: createSecurityNotices({ sealer: undefined, defaultLocale: "en" }) });
  const base = { kind: "oidc" as const, clientId: "x", clientSecret: null, scopes: "openid email profile", allowSignUp: true, emailDomains: [], options: {} };
  trusted = await stores().upstreams.addProvider({ ...base, id: "trusted", issuer: "https://trusted.example", displayName: "Trusted", trustEmail: true });
  untrusted = await stores().upstreams.addProvider({ ...base, id: "untrusted", issuer: "https://untrusted.example", displayName: "Untrusted", trustEmail: false });
}, 60_000);

afterAll(async () => {
  await database?.destroy();
});

let n = 0;
const claimsFor = (provider: UpstreamProvider, more: Partial<UpstreamClaims> = {}): UpstreamClaims => ({
  issuer: provider.issuer,
  subject: `s${++n}`,
  email: `person${n}@example.com`,
  emailVerified: true,
  name: null,
  picture: null,
  amr: [],
  ...more,
});

describe("federated sign-in", () => {
  it("carries the amr of a trusted provider (known methods only), not of an untrusted one", async () => {
    const fromTrusted = await federation.resolve(trusted, claimsFor(trusted, { amr: ["pwd", "otp", "mfa", "kba", "x"] }));
    expect(fromTrusted).toMatchObject({ kind: "signed_in", methods: ["fed", "pwd", "otp"] });
    const fromUntrusted = await federation.resolve(untrusted, claimsFor(untrusted, { amr: ["pwd", "otp"] }));
    expect(fromUntrusted).toMatchObject({ kind: "signed_in", methods: ["fed"] });
  });

  it("follows a trusted provider's verified email, name and picture; an untrusted one's name and picture only", async () => {
    const first = claimsFor(trusted);
    const signedIn = await federation.resolve(trusted, first);
    const userId = (signedIn as { userId: string }).userId;
    await federation.resolve(trusted, { ...first, email: "renamed@example.com", name: "New Name", picture: "https://img.example/p.png" });
    expect(await stores().users.findById(userId)).toMatchObject({ email: "renamed@example.com", emailVerified: true, name: "New Name", picture: "https://img.example/p.png" });
    // An unverified address from the same trusted provider does not move the account's.
    await federation.resolve(trusted, { ...first, email: "unverified@example.com", emailVerified: false });
    expect((await stores().users.findById(userId))!.email).toBe("renamed@example.com");

    const other = claimsFor(untrusted);
    const otherId = ((await federation.resolve(untrusted, other)) as { userId: string }).userId;
    await federation.resolve(untrusted, { ...other, email: "changed@example.com", name: "Changed" });
    expect(await stores().users.findById(otherId)).toMatchObject({ email: other.email, name: "Changed" });
  });

  it("never moves the email onto another account's address", async () => {
    const taken = await stores().users.create({ email: `taken${++n}@example.com`, emailVerified: true });
    const claims = claimsFor(trusted);
    const userId = ((await federation.resolve(trusted, claims)) as { userId: string }).userId;
    await federation.resolve(trusted, { ...claims, email: taken.email.toUpperCase() });
    expect((await stores().users.findById(userId))!.email).toBe(claims.email);
  });

  it("refuses a disabled account, returning or linking", async () => {
    const claims = claimsFor(trusted);
    await federation.resolve(trusted, claims);
    await stores().users.setDisabled(claims.email!, true);
    expect(await federation.resolve(trusted, claims)).toEqual({ kind: "refused", reason: "disabled" });
    const local = await stores().users.create({ email: `disabled${++n}@example.com`, emailVerified: true });
    await stores().users.setDisabled(local.email, true);
    expect(await federation.resolve(trusted, claimsFor(trusted, { email: local.email }))).toEqual({ kind: "refused", reason: "disabled" });
  });

  it("keeps (issuer, subject) linked to one account", async () => {
    const claims = claimsFor(trusted);
    const userId = ((await federation.resolve(trusted, claims)) as { userId: string }).userId;
    const other = await stores().users.create({ email: `other${++n}@example.com`, emailVerified: true, passwordHash: "x" });
    expect(await federation.confirmLink(trusted, claims, other)).toBeUndefined();
    expect((await stores().upstreams.findIdentity(claims.issuer, claims.subject))!.userId).toBe(userId);
  });
});
