// Redirect URIs are matched exactly, and nothing redirects anywhere else: every near miss of a
// registered redirect_uri or post_logout_redirect_uri (trailing slash, case, query, port, userinfo,
// fragment, scheme, encoding, prefix) is refused with a page and no Location, even for a signed-in
// browser; the interaction routes redirect only to the provider's own resume URL; 404s and errors
// never redirect.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { Browser } from "../support/browser.ts";

const REDIRECT_URI = "http://localhost:5173/callback";
const POST_LOGOUT_URI = "http://localhost:5173/signed-out";
const alice = { email: "alice@example.com", password: "a long enough passphrase 42" };

/** Near misses of `uri` that a lenient matcher would accept. */
function nearMisses(uri: string): Record<string, string> {
  const url = new URL(uri);
  const rest = url.pathname;
  return {
    "trailing slash": `${uri}/`,
    "path in another case": uri.replace(rest, rest.toUpperCase()),
    "host and scheme in another case": uri.replace("http://localhost", "HTTP://LOCALHOST"),
    "extra query": `${uri}?next=https://evil.example/`,
    "empty query": `${uri}?`,
    "another port": uri.replace(":5173", ":5174"),
    "no port": uri.replace(":5173", ""),
    "userinfo before the host": uri.replace("http://", "http://evil.example@"),
    "userinfo that names the host": uri.replace("http://localhost:5173", "http://localhost:5173@evil.example"),
    fragment: `${uri}#fragment`,
    "empty fragment": `${uri}#`,
    https: uri.replace("http:", "https:"),
    "127.0.0.1 for localhost": uri.replace("localhost", "127.0.0.1"),
    "prefix of a longer path": `${uri}x`,
    "dot segments": `${uri}/../../evil`,
    "percent-encoded path": uri.replace(rest, rest.replace(/[a-z]/, (c) => `%${c.charCodeAt(0).toString(16)}`)),
    "leading space": ` ${uri}`,
    "trailing space": `${uri} `,
    "another host": uri.replace("localhost:5173", "evil.example"),
    "subdomain of the host": uri.replace("localhost", "localhost.evil.example"),
    "scheme-relative": uri.replace("http:", ""),
  };
}

let idp: TestIdp;
let signedIn: Browser;

function authUrl(redirectUri: string, extra: Record<string, string> = {}): string {
  return `${idp.issuer}/auth?${new URLSearchParams({
    client_id: "web",
    response_type: "code",
    scope: "openid",
    redirect_uri: redirectUri,
    state: "s",
    code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    code_challenge_method: "S256",
    ...extra,
  })}`;
}

function endSessionUrl(postLogoutUri: string): string {
  return `${idp.issuer}/session/end?${new URLSearchParams({ client_id: "web", post_logout_redirect_uri: postLogoutUri })}`;
}

beforeAll(async () => {
  idp = await startTestIdp();
  await idp.admin.addClient({
    id: "web",
    name: "Web",
    public: true,
    firstParty: true,
    redirectUris: [REDIRECT_URI],
    postLogoutRedirectUris: [POST_LOGOUT_URI],
  });
  await idp.admin.addUser(alice);
  // One browser with an IdP session: a valid request would come straight back with a code.
  signedIn = new Browser();
  const login = await signedIn.follow(authUrl(REDIRECT_URI));
  const callback = await signedIn.submit(login, "/login", alice, (url) => url.startsWith(REDIRECT_URI));
  expect(callback.url.startsWith(`${REDIRECT_URI}?code=`)).toBe(true);
});

afterAll(async () => idp?.close());

describe("redirect_uri", () => {
  it("sends a signed-in browser straight back to the exact registered URI (the control)", async () => {
    const page = await signedIn.request(authUrl(REDIRECT_URI));
    expect(page.status).toBe(303);
    expect(new URL(page.location!).origin + new URL(page.location!).pathname).toBe(REDIRECT_URI);
  });

  for (const [variant, uri] of Object.entries(nearMisses(REDIRECT_URI))) {
    it(`refuses ${variant} (${JSON.stringify(uri)}) without redirecting`, async () => {
      for (const browser of [signedIn, new Browser()]) {
        for (const extra of [{}, { prompt: "none" }] as Record<string, string>[]) {
          const page = await browser.request(authUrl(uri, extra));
          expect(page.location, `${variant} ${JSON.stringify(extra)}`).toBeUndefined();
          expect(page.status).toBe(400);
          expect(page.html).toContain("<h1>Unregistered redirect</h1>");
          expect(page.html).not.toContain("code=");
        }
      }
    });
  }
});

describe("post_logout_redirect_uri", () => {
  it("offers sign-out, then redirects to exactly the registered URI (the control)", async () => {
    const browser = new Browser();
    const login = await browser.follow(authUrl(REDIRECT_URI));
    await browser.submit(login, "/login", alice, (url) => url.startsWith(REDIRECT_URI));
    const confirm = await browser.request(endSessionUrl(POST_LOGOUT_URI));
    expect(confirm.status).toBe(200);
    const done = await browser.submit(confirm, "/session/end/confirm", { logout: "yes" }, () => true);
    expect(done.location).toBe(POST_LOGOUT_URI);
  });

  for (const [variant, uri] of Object.entries(nearMisses(POST_LOGOUT_URI))) {
    it(`refuses ${variant} (${JSON.stringify(uri)}) without redirecting`, async () => {
      for (const browser of [signedIn, new Browser()]) {
        const page = await browser.request(endSessionUrl(uri));
        expect(page.location, variant).toBeUndefined();
        expect(page.status).toBe(400);
        expect(page.html).toContain("post_logout_redirect_uri not registered");
        expect(page.html).not.toContain("op.logoutForm");
      }
    });
  }
});

describe("the IdP's own redirects", () => {
  it("sends the browser from the sign-in and consent forms only to the provider's resume URL", async () => {
    await idp.admin.addClient({ id: "third", name: "Third", public: true, firstParty: false, redirectUris: [REDIRECT_URI] });
    const browser = new Browser();
    const login = await browser.follow(authUrl(REDIRECT_URI, { client_id: "third" }));
    const uid = new URL(login.url).pathname.split("/")[2];
    const afterLogin = await browser.submit(login, "/login", alice, () => true);
    expect(afterLogin.status).toBe(303);
    expect(afterLogin.location).toBe(`${idp.issuer}/auth/${uid}`);

    const consent = await browser.follow(afterLogin.location!, (url) => url.startsWith(REDIRECT_URI));
    const consentUid = new URL(consent.url).pathname.split("/")[2];
    const afterConsent = await browser.submit(consent, "/confirm", {}, () => true);
    expect(afterConsent.location).toBe(`${idp.issuer}/auth/${consentUid}`);
    const callback = await browser.follow(afterConsent.location!, (url) => url.startsWith(REDIRECT_URI));
    expect(callback.url.startsWith(`${REDIRECT_URI}?code=`)).toBe(true);

    // A form posted again to the finished interaction gets a page, not a redirect.
    const replay = await browser.submit(consent, "/confirm", {}, () => true);
    expect(replay.location).toBeUndefined();
    expect(replay.status).toBe(400);
  });

  it("cancelling sends the browser to the resume URL too, which answers the registered redirect URI", async () => {
    const browser = new Browser();
    const login = await browser.follow(authUrl(REDIRECT_URI));
    const uid = new URL(login.url).pathname.split("/")[2];
    const aborted = await browser.submit(login, "/abort", {}, () => true);
    expect(aborted.location).toBe(`${idp.issuer}/auth/${uid}`);
    const back = await browser.follow(aborted.location!, (url) => url.startsWith(REDIRECT_URI));
    expect(back.url.startsWith(`${REDIRECT_URI}?error=access_denied`)).toBe(true);
  });

  const paths = [
    "//evil.example/",
    "/\\evil.example/",
    "/%2F%2Fevil.example/",
    "/interaction//evil.example",
    "/interaction/%2F%2Fevil.example",
    "/interaction/abc/",
    "/interaction/abc/login/",
    "/interaction/..%2F..%2Fevil",
    "/oidc/auth/",
    "/oidc/auth/abc",
    "/oidc//evil.example",
    "/oidc/session/end/success?client_id=https://evil.example/",
    "/assets/idp.css/",
    "/nothing?redirect=https://evil.example/",
  ];
  for (const path of paths) {
    it(`does not redirect ${path}`, async () => {
      for (const method of ["GET", "POST"]) {
        const response = await fetch(`${idp.baseUrl}${path}`, { method, redirect: "manual", headers: { accept: "text/html" } });
        expect(response.headers.get("location"), `${method} ${path}`).toBeNull();
        expect(response.status, `${method} ${path}`).toBeGreaterThanOrEqual(400);
        expect(response.status, `${method} ${path}`).toBeLessThan(500);
      }
    });
  }
});
