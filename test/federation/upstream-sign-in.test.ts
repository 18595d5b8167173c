// Sign-in through upstream identity providers against real upstreams: a second node-oidc-provider
// (its own accounts and login pages) and a stand-in speaking GitHub's OAuth 2 and API shape, walked
// by a cookie-keeping browser, with openid-client as the application. Our ID token, checked by the
// strict Convex verifier, carries OUR user's sub. Linking: automatic only for a trusted provider and
// an email verified on both sides; otherwise the local password; never a takeover by email alone.
// Failures (upstream error, tampered state, wrong nonce, another issuer, provider down) end on a
// clear page. Home-realm discovery by email domain. Every link and federated sign-in is audited.
import { generateKeyPairSync } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type * as oidc from "openid-client";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { Browser, type Page } from "../support/browser.ts";
import { discover, exchange, REDIRECT_URI, startAuthorization, type AuthorizationStart } from "../support/oidc-flow.ts";
import { verifyConvexToken } from "../support/convex-verifier.ts";
import { startGitHubStandIn, startUpstreamIdp, type GitHubStandIn, type UpstreamIdp } from "../support/upstream-idp.ts";
import { createUpstreamProviders, redirectUriFor, UPSTREAM_SECRET_INFO, type AddUpstreamInput } from "../../idp/federation/upstream-providers.ts";
import { loadCookieKeys } from "../../idp/keys/cookie-keys.ts";
import { createSealer } from "../../idp/mail/seal.ts";
import { storesOver } from "../../idp/store/stores.ts";

let idp: TestIdp;
let web: oidc.Configuration;
let corp: UpstreamIdp;
let social: UpstreamIdp;
let badNonce: UpstreamIdp;
let otherIssuer: UpstreamIdp;
let github: GitHubStandIn;
let people = 0;
let providers: ReturnType<typeof createUpstreamProviders>;

const atCallback = (url: string) => url.startsWith(REDIRECT_URI);

beforeAll(async () => {
  idp = await startTestIdp({ env: { CLIENT_CACHE_TTL: "0", SIGN_IN_LIMIT_PER_IP: "0", SIGN_IN_METHODS: "password" } });
  const redirectUri = redirectUriFor(idp.issuer);
  [corp, social, badNonce, otherIssuer, github] = await Promise.all([
    startUpstreamIdp({ redirectUri }),
    startUpstreamIdp({ redirectUri }),
    startUpstreamIdp({ redirectUri, tamper: "nonce" }),
    startUpstreamIdp({ redirectUri, tamper: "issuer" }),
    startGitHubStandIn({ redirectUri }),
  ]);
  await idp.admin.addClient({ id: "web", name: "Web App", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
  web = await discover(idp.issuer, "web");
  const cookieKeys = (await loadCookieKeys(idp.config.keysDir))!;
  providers = createUpstreamProviders({
    db: idp.database.db,
    stores: (queryable) => storesOver(queryable, () => new Date()),
    sealer: async () => createSealer(cookieKeys, UPSTREAM_SECRET_INFO),
    production: false,
    issuer: idp.issuer,
  });
  const add = (input: AddUpstreamInput) => providers.add(input);
  // corp: a workforce directory trusted for email, owning example.org (home-realm discovery).
  await add({ id: "corp", issuer: corp.issuer, clientId: corp.clientId, secret: corp.clientSecret, name: "Corp SSO", trustEmail: true, allowSignUp: true, emailDomains: ["example.org"] });
  // social: not trusted for email; no sign-up.
  await add({ id: "social", issuer: social.issuer, clientId: social.clientId, secret: social.clientSecret, name: "Social" });
  await add({ id: "bad-nonce", issuer: badNonce.issuer, clientId: badNonce.clientId, secret: badNonce.clientSecret, trustEmail: true, allowSignUp: true });
  await add({ id: "other-issuer", issuer: otherIssuer.issuer, clientId: otherIssuer.clientId, secret: otherIssuer.clientSecret, trustEmail: true, allowSignUp: true });
  await add({ id: "github", preset: "github", issuer: github.issuer, clientId: github.clientId, secret: github.clientSecret, allowSignUp: true });
  // down: nothing listens there.
  await add({ id: "down", issuer: "http://127.0.0.1:9", clientId: "x", secret: "y", name: "Down" });
}, 60_000);

afterAll(async () => {
  await Promise.all([corp, social, badNonce, otherIssuer].map((upstream) => upstream?.close()));
  await github?.close();
  await idp?.close();
});

/** The application's authorization request, up to our sign-in page. */
async function signInPage(browser: Browser): Promise<{ start: AuthorizationStart; page: Page }> {
  const start = await startAuthorization(web);
  const page = await browser.follow(start.url.toString(), atCallback);
  expect(page.status).toBe(200);
  return { start, page };
}

/** "Continue with <provider>" on the sign-in page, up to the upstream's login page (or wherever it ends). */
async function continueWith(browser: Browser, page: Page, id: string): Promise<Page> {
  const href = new RegExp(`href="(/interaction/[^"]+/upstream/${id})"`).exec(page.html)?.[1];
  expect(href, `a "Continue with" button for ${id}`).toBeDefined();
  return browser.follow(new URL(href!, page.url).href, atCallback);
}

/** Signs in at the upstream's own login page as `login`, and through its consent page. */
async function upstreamLogin(browser: Browser, page: Page, login: string): Promise<Page> {
  let next = await browser.submit(page, "/interaction/", { login, password: "anything" }, atCallback);
  if (next.html.includes('value="consent"')) next = await browser.submit(next, "/interaction/", {}, atCallback);
  return next;
}

async function tokensAt(start: AuthorizationStart, page: Page) {
  expect(page.url, page.html.slice(0, 600)).toMatch(/^http:\/\/localhost:5173\/callback\?code=/);
  const tokens = await exchange(web, start, page.url);
  const identity = await verifyConvexToken(tokens.id_token!, [{ domain: idp.issuer, applicationID: "web" }]);
  return { tokens, identity, claims: tokens.claims()! };
}

/** A full federated sign-in at an OIDC upstream as `login`; the page it ends on. */
async function federated(id: string, login: string, browser = new Browser()) {
  const { start, page } = await signInPage(browser);
  const upstreamPage = await continueWith(browser, page, id);
  const end = await upstreamLogin(browser, upstreamPage, login);
  return { start, end, browser };
}

const auditOf = async (userId: string) =>
  (await idp.database.db.query<{ event: string; details: Record<string, string> }>("SELECT event, details FROM audit_events WHERE user_id = $1 ORDER BY id", [userId])).rows;
const noticesTo = async (userId: string) =>
  Number((await idp.database.db.query<{ count: string }>("SELECT count(*) FROM mail_outbox WHERE template = 'security_notice' AND user_id = $1", [userId])).rows[0]!.count);
const identitiesOf = (userId: string) => storesOver(idp.database.db, () => new Date()).upstreams.identitiesOf(userId);
const nextEmail = (domain = "example.com") => `fed${++people}@${domain}`;

describe("sign-in through an OpenID Connect upstream", () => {
  it("creates an account on first sign-in (sign-up allowed), signs in with OUR sub, and recognises the person after", async () => {
    const email = nextEmail();
    corp.accounts.set(`corp-${people}`, { email, email_verified: true, name: "Ada Upstream" });
    const login = `corp-${people}`;
    const first = await federated("corp", login);
    const { identity, claims } = await tokensAt(first.start, first.end);
    const user = await idp.admin.users.findByEmail(email);
    expect(user).toBeDefined();
    expect(identity.subject).toBe(user!.id);
    expect(identity.subject).not.toBe(login);
    expect(identity.issuer).toBe(idp.issuer);
    expect(claims.amr).toContain("fed");
    expect(user!.emailVerified).toBe(true);
    expect(user!.name).toBe("Ada Upstream");
    const [linked] = await identitiesOf(user!.id);
    expect(linked).toMatchObject({ issuer: corp.issuer, subject: login, providerId: "corp" });

    // The name changes upstream; a returning person (new browser) is found by (issuer, subject).
    corp.accounts.set(login, { email, email_verified: true, name: "Ada Renamed" });
    const again = await federated("corp", login);
    const second = await tokensAt(again.start, again.end);
    expect(second.identity.subject).toBe(user!.id);
    expect((await idp.admin.users.findById(user!.id))!.name).toBe("Ada Renamed");
    const events = (await auditOf(user!.id)).map((row) => `${row.event}:${row.details.proof ?? row.details.method ?? ""}`);
    expect(events).toEqual(["user.created:federated", "identity.linked:sign_up", "sign_in.succeeded:federated", "sign_in.succeeded:federated"]);
  });

  it("links automatically when the provider is trusted and the email is verified there and here", async () => {
    const email = nextEmail();
    const local = await idp.admin.addUser({ email, password: "correct horse battery", emailVerified: true });
    corp.accounts.set(`corp-${people}`, { email, email_verified: true });
    const { start, end } = await federated("corp", `corp-${people}`);
    const { identity } = await tokensAt(start, end);
    expect(identity.subject).toBe(local.id);
    expect((await auditOf(local.id)).map((row) => row.event)).toContain("identity.linked");
    // The person is told a new way into their account appeared.
    expect(await noticesTo(local.id)).toBe(1);
  });

  it("asks for the local password when the email is not verified here, and a wrong one links nothing", async () => {
    const email = nextEmail();
    const local = await idp.admin.addUser({ email, password: "correct horse battery" });
    corp.accounts.set(`corp-${people}`, { email, email_verified: true });
    const { start, end, browser } = await federated("corp", `corp-${people}`);
    expect(end.status).toBe(200);
    expect(end.html).toContain("Link your Corp SSO sign-in");
    const wrong = await browser.submit(end, "/upstream-link", { password: "not the password" }, atCallback);
    expect(wrong.status).toBe(401);
    expect(await identitiesOf(local.id)).toEqual([]);
    const right = await browser.submit(wrong, "/upstream-link", { password: "correct horse battery" }, atCallback);
    const { identity, claims } = await tokensAt(start, right);
    expect(identity.subject).toBe(local.id);
    // An upstream account and the password are not two factors: the upstream may be anyone's.
    expect(claims.amr).toEqual(["fed", "pwd"]);
    expect(claims.acr).toMatch(/:acr:1fa$/);
    expect(await identitiesOf(local.id)).toHaveLength(1);
  });

  it("an untrusted provider asks for the local password even with a verified email", async () => {
    const email = nextEmail();
    const local = await idp.admin.addUser({ email, password: "correct horse battery", emailVerified: true });
    social.accounts.set(`social-${people}`, { email, email_verified: true });
    const { end } = await federated("social", `social-${people}`);
    expect(end.html).toContain("Link your Social sign-in");
    expect(await identitiesOf(local.id)).toEqual([]);
  });

  it("a different upstream account with the same email cannot take over a linked account", async () => {
    const email = nextEmail();
    const local = await idp.admin.addUser({ email, password: "correct horse battery", emailVerified: true });
    corp.accounts.set(`corp-owner-${people}`, { email, email_verified: true });
    corp.accounts.set(`corp-intruder-${people}`, { email, email_verified: true });
    const owner = await federated("corp", `corp-owner-${people}`);
    expect((await tokensAt(owner.start, owner.end)).identity.subject).toBe(local.id);
    // Same trusted provider, another subject, the same verified email: no automatic link.
    const intruder = await federated("corp", `corp-intruder-${people}`);
    expect(intruder.end.url).not.toMatch(/^http:\/\/localhost:5173/);
    expect(intruder.end.html).toContain("Link your Corp SSO sign-in");
    const guessed = await intruder.browser.submit(intruder.end, "/upstream-link", { password: "a guess" }, atCallback);
    expect(guessed.status).toBe(401);
    expect((await identitiesOf(local.id)).map((linked) => linked.subject)).toEqual([`corp-owner-${people}`]);
  });

  it("refuses a first sign-in without an account where sign-up is not allowed, and an unverified email for sign-up", async () => {
    social.accounts.set(`social-new-${people}`, { email: nextEmail(), email_verified: true });
    const refused = await federated("social", `social-new-${people - 1}`);
    expect(refused.end.status).toBe(403);
    expect(refused.end.html).toContain("There is no account for this Social sign-in");
    corp.accounts.set(`corp-unverified-${people}`, { email: nextEmail(), email_verified: false });
    const unverified = await federated("corp", `corp-unverified-${people - 1}`);
    expect(unverified.end.status).toBe(403);
    expect(unverified.end.html).toContain("did not share a verified email address");
  });
});

describe("sign-in through GitHub (OAuth 2 and its API)", () => {
  it("signs up with the primary verified email, then signs in as the same user by GitHub's numeric id", async () => {
    const email = nextEmail();
    github.signInAs({ id: 4242 + people, login: `octo${people}`, name: "Octo Cat", emails: [{ email: `other${people}@example.com`, primary: false, verified: true }, { email, primary: true, verified: true }] });
    const browser = new Browser();
    const { start, page } = await signInPage(browser);
    const end = await continueWith(browser, page, "github");
    const { identity } = await tokensAt(start, end);
    const user = await idp.admin.users.findByEmail(email);
    expect(identity.subject).toBe(user!.id);
    const [linked] = await identitiesOf(user!.id);
    expect(linked).toMatchObject({ issuer: github.issuer, subject: String(4242 + people), email });

    const again = new Browser();
    const next = await signInPage(again);
    const back = await continueWith(again, next.page, "github");
    expect((await tokensAt(next.start, back)).identity.subject).toBe(user!.id);
  });

  it("refuses sign-up when the primary email is not verified at GitHub", async () => {
    github.signInAs({ id: 9000 + people, login: "unverified", emails: [{ email: nextEmail(), primary: true, verified: false }] });
    const browser = new Browser();
    const { page } = await signInPage(browser);
    const end = await continueWith(browser, page, "github");
    expect(end.status).toBe(403);
    expect(end.html).toContain("did not share a verified email address");
  });
});

describe("sign-in with Apple's shape", () => {
  let apple: UpstreamIdp;
  beforeAll(async () => {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const key = { teamId: "TEAM123456", keyId: "KEY1234567", publicKey };
    apple = await startUpstreamIdp({ redirectUri: redirectUriFor(idp.issuer), tamper: "apple", apple: key });
    const pem = privateKey.export({ format: "pem", type: "pkcs8" }).toString();
    await providers.add({ id: "apple", preset: "apple", issuer: apple.issuer, clientId: apple.clientId, secret: pem, teamId: key.teamId, keyId: key.keyId, allowSignUp: true });
  });
  afterAll(() => apple?.close());

  it("answers with a form post, and the code is exchanged with a client secret JWT signed by the key", async () => {
    const email = nextEmail();
    apple.accounts.set("001234.apple", { email, email_verified: true });
    const browser = new Browser();
    const { start, page } = await signInPage(browser);
    const upstreamPage = await continueWith(browser, page, "apple");
    const formPost = await upstreamLogin(browser, upstreamPage, "001234.apple");
    // Apple's answer (response_mode=form_post): a page whose form posts the code to our callback.
    expect(formPost.html).toMatch(/<form[^>]*method="post"[^>]*action="[^"]*\/upstream\/callback"/);
    const end = await browser.submit(formPost, "/upstream/callback", {}, atCallback);
    const { identity } = await tokensAt(start, end);
    expect(identity.subject).toBe((await idp.admin.users.findByEmail(email))!.id);
  });
});

describe("failures upstream end on a clear page, never a 500", () => {
  it("the upstream's error (the person cancelled there)", async () => {
    const browser = new Browser();
    const { page } = await signInPage(browser);
    const upstreamPage = await continueWith(browser, page, "corp");
    const abort = /href="([^"]*\/abort)"/.exec(upstreamPage.html)![1]!;
    const end = await browser.follow(new URL(abort, upstreamPage.url).href, atCallback);
    expect(end.status).toBe(400);
    expect(end.html).toContain("The sign-in at Corp SSO was cancelled or refused");
  });

  it("a tampered state", async () => {
    corp.accounts.set(`corp-state-${people}`, { email: nextEmail(), email_verified: true });
    const browser = new Browser();
    const { page } = await signInPage(browser);
    const upstreamPage = await continueWith(browser, page, "corp");
    // Stop where the upstream sends the browser back, and change the state.
    let back = await browser.submit(upstreamPage, "/interaction/", { login: `corp-state-${people - 1}`, password: "x" }, (url) => url.includes("/upstream/callback"));
    if (!back.url.includes("/upstream/callback")) back = await browser.submit(back, "/interaction/", {}, (url) => url.includes("/upstream/callback"));
    const tampered = new URL(back.url);
    tampered.searchParams.set("state", "x".repeat(43));
    const end = await browser.follow(tampered.href, atCallback);
    expect(end.status).toBe(400);
    expect(end.html).toContain("does not belong to a sign-in started in this browser");
    // The untampered answer is no use afterwards either: the pending sign-in was used up.
    const replay = await browser.follow(back.url, atCallback);
    expect(replay.status).toBe(400);
  });

  it("an answer arriving in another browser", async () => {
    corp.accounts.set(`corp-other-${people}`, { email: nextEmail(), email_verified: true });
    const browser = new Browser();
    const { page } = await signInPage(browser);
    const upstreamPage = await continueWith(browser, page, "corp");
    let back = await browser.submit(upstreamPage, "/interaction/", { login: `corp-other-${people - 1}`, password: "x" }, (url) => url.includes("/upstream/callback"));
    if (!back.url.includes("/upstream/callback")) back = await browser.submit(back, "/interaction/", {}, (url) => url.includes("/upstream/callback"));
    const end = await new Browser().follow(back.url, atCallback);
    expect(end.status).toBe(400);
  });

  it("an ID token with another nonce", async () => {
    badNonce.accounts.set("nonce-person", { email: nextEmail(), email_verified: true });
    const { end } = await federated("bad-nonce", "nonce-person");
    expect(end.status).toBe(400);
    expect(end.html).toContain("could not be verified");
  });

  it("an ID token from another issuer", async () => {
    otherIssuer.accounts.set("issuer-person", { email: nextEmail(), email_verified: true });
    const { end } = await federated("other-issuer", "issuer-person");
    expect(end.status).toBe(400);
    expect(end.html).toContain("could not be verified");
    expect(await idp.admin.users.findByEmail(`fed${people}@example.com`)).toBeUndefined();
  });

  it("a provider that cannot be reached", async () => {
    const browser = new Browser();
    const { page } = await signInPage(browser);
    const end = await continueWith(browser, page, "down");
    expect(end.status).toBe(502);
    expect(end.html).toContain("Down cannot be reached right now");
  });

  it("a callback without a pending sign-in, and an unknown provider", async () => {
    const browser = new Browser();
    const lost = await browser.request(`${idp.baseUrl}/upstream/callback?code=abc&state=def`);
    expect(lost.status).toBe(400);
    const { page } = await signInPage(browser);
    const uid = /\/interaction\/([^/"]+)\//.exec(page.html)![1]!;
    expect((await browser.request(`${idp.baseUrl}/interaction/${uid}/upstream/nobody`)).status).toBe(404);
  });
});

describe("home-realm discovery", () => {
  it("an email in a provider's domain goes straight to it from the email form", async () => {
    const email = nextEmail("example.org");
    corp.accounts.set(`corp-hrd-${people}`, { email, email_verified: true });
    const browser = new Browser();
    const { start, page } = await signInPage(browser);
    const upstreamPage = await browser.submit(page, "/login", { email, password: "" }, atCallback);
    expect(upstreamPage.url.startsWith(corp.issuer)).toBe(true);
    expect(upstreamPage.html).toContain(`value="${email}"`); // login_hint reached the provider
    const end = await upstreamLogin(browser, upstreamPage, `corp-hrd-${people}`);
    const { identity } = await tokensAt(start, end);
    expect(identity.subject).toBe((await idp.admin.users.findByEmail(email))!.id);
  });

  it("other domains sign in with their password as before", async () => {
    const email = nextEmail();
    await idp.admin.addUser({ email, password: "correct horse battery" });
    const browser = new Browser();
    const { start, page } = await signInPage(browser);
    const end = await browser.submit(page, "/login", { email, password: "correct horse battery" }, atCallback);
    expect((await tokensAt(start, end)).claims.amr).toEqual(["pwd"]);
  });
});

describe("the account page's linked identities", () => {
  it("lists a linked provider and unlinks it (audited); the person still signs in with the password", async () => {
    const email = nextEmail();
    const local = await idp.admin.addUser({ email, password: "correct horse battery", emailVerified: true });
    corp.accounts.set(`corp-acct-${people}`, { email, email_verified: true });
    const linked = await federated("corp", `corp-acct-${people}`);
    await tokensAt(linked.start, linked.end);

    const browser = new Browser();
    const signIn = await browser.follow(`${idp.baseUrl}/account`);
    const account = await browser.submit(signIn, "/login", { email, password: "correct horse battery" });
    expect(account.url).toBe(`${idp.baseUrl}/account`);
    expect(account.html).toContain(`Corp SSO: ${email}`);
    const unlinked = await browser.submit(account, "/account/identities/unlink");
    expect(unlinked.url).toContain("notice=identityUnlinked");
    expect(unlinked.html).toContain("No other provider is linked to your account.");
    expect(await identitiesOf(local.id)).toEqual([]);
    expect((await auditOf(local.id)).map((row) => row.event)).toContain("identity.unlinked");
    expect(await noticesTo(local.id)).toBe(2); // linked, then unlinked
  });

  it("never unlinks the last way to sign in", async () => {
    const email = nextEmail();
    corp.accounts.set(`corp-only-${people}`, { email, email_verified: true });
    const browser = new Browser();
    const signIn = await browser.follow(`${idp.baseUrl}/account`);
    const upstreamPage = await continueWith(browser, signIn, "corp");
    const account = await upstreamLogin(browser, upstreamPage, `corp-only-${people}`);
    expect(account.url).toBe(`${idp.baseUrl}/account`);
    expect(account.html).toContain("This is the only way you sign in");
    expect(account.html).not.toContain("/account/identities/unlink");
    const user = await idp.admin.users.findByEmail(email);
    const [identity] = await identitiesOf(user!.id);
    // A post made by hand (with a CSRF token of another /account form) is refused too.
    const passwordPage = await browser.follow(`${idp.baseUrl}/account/password`);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(passwordPage.html)![1]!;
    const forged = await browser.follow(`${idp.baseUrl}/account/identities/unlink`, undefined, { form: { _csrf: csrf, issuer: identity!.issuer, subject: identity!.subject } });
    expect(forged.url).toContain("notice=identityLast");
    expect(await identitiesOf(user!.id)).toHaveLength(1);
  });
});
