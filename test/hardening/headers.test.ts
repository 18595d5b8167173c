// Security headers and cookie attributes on everything a real, listening IdP sends: every page of a
// full sign-in, consent and sign-out, every error page and 404, the stylesheet, and every OIDC
// endpoint, over plain http and behind a trusted TLS-terminating proxy.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { captureLogs } from "../support/log-capture.ts";
import { cookieAttributes, parseCsp, RecordingBrowser, type Recorded } from "./recording-browser.ts";

const APP = "http://localhost:5173";
const REDIRECT_URI = `${APP}/callback`;
const POST_LOGOUT_URI = `${APP}/signed-out`;
const alice = { email: "alice@example.com", password: "a long enough passphrase 42" };

type Walk = { idp: TestIdp; browser: RecordingBrowser; byLabel: Map<string, Recorded> };

/** Pages that render HTML for people; everything here must be no-store and script-free. */
const PAGES = [
  "login page",
  "login failure page",
  "consent page",
  "logout confirmation",
  "logged-out page",
  "error: expired sign-in",
  "error: unknown application",
  "error: unregistered redirect",
  "error: unregistered post-logout redirect",
  "error: form expired (no CSRF token)",
  "error: invalid request (bad uid)",
  "404 page under /interaction",
];
/** JSON or redirects that must not be cached either. */
const NO_STORE = [
  ...PAGES,
  "auth redirect to login",
  "login post redirect",
  "consent post redirect",
  "logout post redirect",
  "token success",
  "token error",
  "userinfo success",
  "userinfo error",
  "revocation",
  "revocation error",
  "404 json",
  "404 under the issuer",
];

async function walk(idp: TestIdp, browser: RecordingBrowser): Promise<Walk> {
  const { secret } = await idp.admin.addClient({
    id: "partner",
    name: "Partner",
    public: false,
    firstParty: false,
    redirectUris: [REDIRECT_URI],
    postLogoutRedirectUris: [POST_LOGOUT_URI],
  });
  await idp.admin.addUser(alice);
  const issuer = idp.issuer;
  const basic = { authorization: `Basic ${Buffer.from(`partner:${secret}`).toString("base64")}` };
  const atApp = (url: string) => url.startsWith(APP);
  const byLabel = new Map<string, Recorded>();
  const keep = (label: string, recorded: Recorded) => {
    byLabel.set(label, recorded);
    return recorded;
  };

  // Sign-in with a wrong password first, then consent.
  const authUrl = `${issuer}/auth?${new URLSearchParams({
    client_id: "partner",
    response_type: "code",
    scope: "openid email",
    redirect_uri: REDIRECT_URI,
    state: "state-1",
    nonce: "nonce-1",
    // RFC 7636's example pair; every client uses PKCE.
    code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    code_challenge_method: "S256",
  })}`;
  const first = keep("auth redirect to login", await browser.request("auth", authUrl));
  const login = keep("login page", await browser.follow("login page", first.location!));
  expect(login.body).toContain('name="password"');
  const failed = keep("login failure page", await browser.submit("login failure page", login, "/login", { email: alice.email, password: "wrong password!" }));
  expect(failed.status).toBe(401);
  const loginPost = keep("login post redirect", await browser.submit("login", failed, "/login", alice, () => true));
  expect(loginPost.status).toBe(303);
  const consent = keep("consent page", await browser.follow("consent", loginPost.location!, atApp));
  expect(consent.body).toContain("/confirm");
  const consentPost = keep("consent post redirect", await browser.submit("consent post", consent, "/confirm", {}, () => true));
  const callback = await browser.follow("to callback", consentPost.location!, atApp);
  const code = new URL(callback.location!).searchParams.get("code")!;
  expect(code).toBeTruthy();

  // Tokens, userinfo, revocation: successes and errors.
  const token = keep(
    "token success",
    await browser.request("token", `${issuer}/token`, {
      form: { grant_type: "authorization_code", code, redirect_uri: REDIRECT_URI, code_verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk" },
      headers: basic,
      accept: "application/json",
    }),
  );
  expect(token.status).toBe(200);
  const accessToken = JSON.parse(token.body).access_token as string;
  keep("token error", await browser.request("token", `${issuer}/token`, { form: { grant_type: "authorization_code", code: "nope" }, headers: basic, accept: "application/json" }));
  keep("userinfo success", await browser.request("userinfo", `${issuer}/me`, { headers: { authorization: `Bearer ${accessToken}` }, accept: "application/json" }));
  expect(byLabel.get("userinfo success")!.status).toBe(200);
  keep("userinfo error", await browser.request("userinfo", `${issuer}/me`, { headers: { authorization: "Bearer nope" }, accept: "application/json" }));
  keep("revocation", await browser.request("revocation", `${issuer}/token/revocation`, { form: { token: accessToken }, headers: basic, accept: "application/json" }));
  expect(byLabel.get("revocation")!.status).toBe(200);
  keep("revocation error", await browser.request("revocation", `${issuer}/token/revocation`, { form: { token: "x" }, accept: "application/json" }));

  // Sign-out: the confirmation, the redirect to the app, the signed-out page.
  const logoutUrl = `${issuer}/session/end?${new URLSearchParams({ client_id: "partner", post_logout_redirect_uri: POST_LOGOUT_URI })}`;
  const logout = keep("logout confirmation", await browser.request("logout", logoutUrl));
  expect(logout.body).toContain("op.logoutForm");
  const logoutPost = keep("logout post redirect", await browser.submit("logout post", logout, "/session/end/confirm", { logout: "yes" }, () => true));
  expect(logoutPost.location).toBe(POST_LOGOUT_URI);
  keep("logged-out page", await browser.request("logged out", `${issuer}/session/end/success`));

  // Error pages and 404s.
  keep("error: expired sign-in", await browser.request("expired", `${idp.baseUrl}/interaction/no-such-interaction`));
  keep("error: unknown application", await browser.request("unknown app", `${issuer}/auth?client_id=nobody&response_type=code&scope=openid`));
  keep(
    "error: unregistered redirect",
    await browser.request("bad redirect", authUrl.replace(encodeURIComponent(REDIRECT_URI), encodeURIComponent("https://evil.example/callback"))),
  );
  keep(
    "error: unregistered post-logout redirect",
    await browser.request("bad post-logout", logoutUrl.replace(encodeURIComponent(POST_LOGOUT_URI), encodeURIComponent("https://evil.example/"))),
  );
  const fresh = await browser.follow("login page again", (await browser.request("auth", authUrl)).location!);
  keep("error: form expired (no CSRF token)", await browser.request("no csrf", new URL(`${new URL(fresh.url).pathname}/login`, idp.baseUrl).toString(), { form: { ...alice, _csrf: "forged" } }));
  keep("error: invalid request (bad uid)", await browser.request("bad uid", `${idp.baseUrl}/interaction/${"!".repeat(5)}/login`, { form: { ...alice, _csrf: "x" } }));
  keep("404 page under /interaction", await browser.request("404 html", `${idp.baseUrl}/interaction/a/b/c`));
  keep("404 json", await browser.request("404 json", `${idp.baseUrl}/no-such-thing`, { accept: "application/json" }));
  keep("404 under the issuer", await browser.request("404 oidc", `${issuer}/no-such-thing`));

  // Public documents.
  keep("stylesheet", await browser.request("css", `${idp.baseUrl}/assets/idp.css`, { accept: "text/css" }));
  keep("discovery", await browser.request("discovery", `${issuer}/.well-known/openid-configuration`, { accept: "application/json", headers: { origin: APP } }));
  keep("jwks", await browser.request("jwks", `${issuer}/jwks`, { accept: "application/json", headers: { origin: APP } }));
  return { idp, browser, byLabel };
}

function expectedStatuses(byLabel: Map<string, Recorded>) {
  const status = (label: string) => byLabel.get(label)!.status;
  expect(status("error: expired sign-in")).toBe(400);
  expect(status("error: unknown application")).toBe(400);
  expect(status("error: unregistered redirect")).toBe(400);
  expect(status("error: unregistered post-logout redirect")).toBe(400);
  expect(status("error: form expired (no CSRF token)")).toBe(403);
  expect(status("error: invalid request (bad uid)")).toBe(400);
  expect(status("404 page under /interaction")).toBe(404);
  expect(status("404 json")).toBe(404);
  expect(status("404 under the issuer")).toBe(404);
}

/** The checks both variants share. */
function headerChecks(get: () => Walk, https: boolean) {
  it("sends the baseline headers on every response", () => {
    const { browser } = get();
    expect(browser.responses.length).toBeGreaterThan(25);
    for (const response of browser.responses) {
      const where = `${response.label}: ${response.method} ${response.url} (${response.status})`;
      expect(response.status, where).toBeLessThan(500);
      expect(response.headers.get("x-content-type-options"), where).toBe("nosniff");
      expect(response.headers.get("x-frame-options"), where).toBe("DENY");
      expect(response.headers.get("referrer-policy"), where).toBe("no-referrer");
      expect(response.headers.get("cross-origin-opener-policy"), where).toBe("same-origin");
      expect(response.headers.get("strict-transport-security"), where).toBe(https ? "max-age=31536000; includeSubDomains" : null);
      const csp = parseCsp(response.headers.get("content-security-policy"));
      expect(csp.get("default-src"), where).toEqual(["'none'"]);
      // The login prompt's pages load the passkey script, which fetches its options: from the IdP only.
      const passkeyScript = ["login page", "login failure page", "login", "login page again"].includes(response.label);
      expect(csp.get("script-src"), where).toEqual(passkeyScript ? ["'self'"] : ["'none'"]);
      expect(csp.get("connect-src"), where).toEqual(passkeyScript ? ["'self'"] : undefined);
      expect(csp.get("style-src"), where).toEqual(["'self'"]);
      expect(csp.get("img-src"), where).toEqual(["'self'", "data:"]);
      expect(csp.get("frame-ancestors"), where).toEqual(["'none'"]);
      expect(csp.get("base-uri"), where).toEqual(["'none'"]);
      // 'self', plus at most the registered client's origin: never anything a request chose.
      const formAction = csp.get("form-action") ?? [];
      expect(formAction[0], where).toBe("'self'");
      expect(formAction.slice(1).every((source) => source === APP), `${where}: ${formAction}`).toBe(true);
    }
  });

  it("lets the sign-in, consent and sign-out forms reach the client's redirect URI, and nothing else", () => {
    const { byLabel } = get();
    for (const label of ["login page", "login failure page", "consent page", "logout confirmation"]) {
      expect(parseCsp(byLabel.get(label)!.headers.get("content-security-policy")).get("form-action"), label).toEqual(["'self'", APP]);
    }
    for (const label of PAGES.filter((label) => label.startsWith("error") || label.startsWith("404") || label === "logged-out page")) {
      expect(parseCsp(byLabel.get(label)!.headers.get("content-security-policy")).get("form-action"), label).toEqual(["'self'"]);
    }
  });

  it("renders every page as HTML, with the expected statuses", () => {
    const { byLabel } = get();
    for (const label of PAGES) expect(byLabel.get(label)!.headers.get("content-type"), label).toMatch(/^text\/html/);
    expectedStatuses(byLabel);
  });

  it("marks pages, interaction routes, token, userinfo and revocation answers no-store", () => {
    const { browser, byLabel } = get();
    for (const label of NO_STORE) expect(byLabel.get(label)!.headers.get("cache-control"), label).toBe("no-store");
    for (const response of browser.responses.filter((response) => new URL(response.url).pathname.startsWith("/interaction"))) {
      expect(response.headers.get("cache-control"), response.url).toBe("no-store");
    }
  });

  it("keeps the JWKS and discovery cacheable and readable cross-origin, and the stylesheet cacheable", () => {
    const { byLabel } = get();
    const jwks = byLabel.get("jwks")!;
    expect(jwks.headers.get("cache-control")).toBe("public, max-age=300");
    expect(["*", APP]).toContain(jwks.headers.get("access-control-allow-origin"));
    const discovery = byLabel.get("discovery")!;
    expect(discovery.status).toBe(200);
    expect(discovery.headers.get("cache-control")).not.toBe("no-store");
    expect(["*", APP]).toContain(discovery.headers.get("access-control-allow-origin"));
    expect(byLabel.get("stylesheet")!.headers.get("cache-control")).toBe("public, max-age=86400");
  });

  it(`sets every cookie HttpOnly and SameSite=Lax${https ? ", and Secure" : ", without Secure over plain http"}`, () => {
    const { browser } = get();
    const lines = browser.responses.flatMap((response) => response.setCookies);
    const names = new Set(lines.map((line) => cookieAttributes(line).name));
    // Everything the IdP sets during a sign-in and sign-out was seen: its own CSRF cookie and the provider's.
    for (const name of ["_csrf", "_interaction", "_interaction.sig", "_interaction_resume", "_interaction_resume.sig", "_session", "_session.sig"]) {
      expect(names, name).toContain(name);
    }
    for (const line of lines) {
      const { attributes } = cookieAttributes(line);
      expect(attributes.has("httponly"), line).toBe(true);
      expect(attributes.get("samesite")?.toLowerCase(), line).toBe("lax");
      expect(attributes.has("secure"), line).toBe(https);
    }
  });
}

describe("over plain http", () => {
  let result: Walk;
  beforeAll(async () => {
    const idp = await startTestIdp();
    result = await walk(idp, new RecordingBrowser());
  });
  afterAll(async () => result?.idp.close());
  headerChecks(() => result, false);
});

describe("behind a trusted TLS-terminating proxy (TRUST_PROXY=true, X-Forwarded-Proto: https)", () => {
  let result: Walk;
  beforeAll(async () => {
    const idp = await startTestIdp({ env: { TRUST_PROXY: "true" } });
    const proxy = { publicOrigin: idp.baseUrl.replace(/^http:/, "https:"), serverOrigin: idp.baseUrl };
    result = await walk(idp, new RecordingBrowser({ "x-forwarded-proto": "https" }, proxy));
  });
  afterAll(async () => result?.idp.close());
  headerChecks(() => result, true);
});

describe("whether a request counts as https", () => {
  let untrusting: TestIdp | undefined;
  let httpsIssuer: TestIdp | undefined;
  afterAll(async () => {
    await untrusting?.close();
    await httpsIssuer?.close();
  });

  it("ignores X-Forwarded-Proto without TRUST_PROXY: no HSTS, no Secure cookies", async () => {
    untrusting = await startTestIdp({ listen: false });
    await untrusting.admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
    const response = await untrusting.app.inject({
      url: `/oidc/auth?client_id=web&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(REDIRECT_URI)}&code_challenge=${"a".repeat(43)}&code_challenge_method=S256`,
      headers: { "x-forwarded-proto": "https" },
    });
    expect(response.statusCode).toBe(303);
    expect(response.headers["strict-transport-security"]).toBeUndefined();
    const cookies = [response.headers["set-cookie"] ?? []].flat();
    expect(cookies.length).toBeGreaterThan(0);
    for (const line of cookies) expect(cookieAttributes(line).attributes.has("secure"), line).toBe(false);
  });

  it("warns at start when the issuer is https but the proxy is not trusted (cookies would lack Secure)", async () => {
    const warnings = async (env: Record<string, string>) => {
      const { stream, lines } = captureLogs();
      const idp = await startTestIdp({ listen: false, env, logger: { level: "warn", stream } });
      await idp.close();
      return lines.filter((line) => line.includes("TRUST_PROXY"));
    };
    expect(await warnings({ ISSUER: "https://idp.example.test/oidc" })).toHaveLength(1);
    expect(await warnings({ ISSUER: "https://idp.example.test/oidc", TRUST_PROXY: "true" })).toHaveLength(0);
    expect(await warnings({})).toHaveLength(0);
  });

  it("sends HSTS on every response when the issuer is https, even if the proxy's header is not trusted", async () => {
    httpsIssuer = await startTestIdp({ listen: false, env: { ISSUER: "https://idp.example.test/oidc" } });
    for (const url of ["/oidc/.well-known/openid-configuration", "/interaction/nope", "/assets/idp.css", "/nothing", "/oidc/nothing"]) {
      const response = await httpsIssuer.app.inject({ url });
      expect(response.headers["strict-transport-security"], url).toBe("max-age=31536000; includeSubDomains");
    }
  });
});
