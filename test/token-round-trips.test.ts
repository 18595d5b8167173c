// Round trips to the database per token request, counted on the wire (every pg client query), for
// the statements that serve oidc-provider's payloads: a refresh or a code exchange reads its token,
// grant and session in one query and commits its writes in one statement. Rate-limit counters and
// the client and user lookups belong to other modules and are left out of the count.
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import * as oidc from "openid-client";
import { startTestIdp, type TestIdp } from "./support/idp.ts";
import { Browser } from "./support/browser.ts";
import { discover, exchange, signIn, startAuthorization, REDIRECT_URI } from "./support/oidc-flow.ts";

const alice = { email: "alice@example.com", password: "correct horse battery" };

/** Every statement sent by any pg client of this process while fn runs. */
async function statementsDuring(fn: () => Promise<unknown>): Promise<string[]> {
  const prototype = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = prototype.query;
  const seen: string[] = [];
  prototype.query = function (this: unknown, ...args: unknown[]) {
    const config = args[0];
    seen.push((typeof config === "string" ? config : ((config as { text?: string }).text ?? "")).replace(/\s+/g, " ").trim());
    return original.apply(this, args);
  };
  try {
    await fn();
  } finally {
    prototype.query = original;
  }
  return seen;
}

/** The statements of the payload store, and transaction control (which must not appear at all). */
const payloadRoundTrips = (statements: string[]) =>
  statements.filter((sql) => /oidc_payloads|commit_token_writes|^(BEGIN|COMMIT|ROLLBACK)\b/i.test(sql));

let idp: TestIdp;
let web: oidc.Configuration; // public, first-party: its refresh tokens end with the session
let partner: oidc.Configuration; // confidential, third-party: offline_access, not bound to the session
let partnerSecret: string;

beforeAll(async () => {
  idp = await startTestIdp();
  await idp.admin.addUser({ ...alice, emailVerified: true });
  await idp.admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
  partnerSecret = (await idp.admin.addClient({ id: "partner", public: false, firstParty: false, redirectUris: [REDIRECT_URI] })).secret!;
  web = await discover(idp.issuer, "web");
  partner = await discover(idp.issuer, "partner", partnerSecret);
});
afterAll(async () => idp?.close());

/** Signs in and returns what the code exchange needs, leaving the exchange to the caller. */
async function authorized(config: oidc.Configuration, params: Record<string, string> = {}) {
  const start = await startAuthorization(config, params);
  const page = await signIn(new Browser(), start, alice);
  expect(page.url.startsWith(REDIRECT_URI), page.html.slice(0, 300)).toBe(true);
  return { start, callbackUrl: page.url };
}

describe.each<{ name: string; config: () => oidc.Configuration; params: Record<string, string> }>([
  { name: "a session-bound refresh token (first-party client)", config: () => web, params: {} },
  { name: "an offline_access refresh token (third-party client)", config: () => partner, params: { prompt: "consent" } },
])("token requests with $name", ({ config, params }) => {
  it("a code exchange reads once and commits in one statement", async () => {
    const { start, callbackUrl } = await authorized(config(), params);
    let tokens: oidc.TokenEndpointResponse | undefined;
    const statements = await statementsDuring(async () => {
      tokens = await exchange(config(), start, callbackUrl);
    });
    expect(tokens?.refresh_token).toBeTypeOf("string");
    const payloadStatements = payloadRoundTrips(statements);
    expect(payloadStatements, statements.join("\n")).toHaveLength(2);
    expect(payloadStatements[0]).toMatch(/^SELECT .*oidc_payloads/);
    expect(payloadStatements[1]).toMatch(/commit_token_writes/);
  });

  it("a refresh reads once and commits in one statement, and the rotated token works", async () => {
    const { start, callbackUrl } = await authorized(config(), params);
    const tokens = await exchange(config(), start, callbackUrl);
    let refreshed: oidc.TokenEndpointResponse | undefined;
    const statements = await statementsDuring(async () => {
      refreshed = await oidc.refreshTokenGrant(config(), tokens.refresh_token!);
    });
    expect(refreshed?.id_token).toBeTypeOf("string");
    const payloadStatements = payloadRoundTrips(statements);
    expect(payloadStatements, statements.join("\n")).toHaveLength(2);
    expect(payloadStatements[0]).toMatch(/^SELECT .*oidc_payloads/);
    expect(payloadStatements[1]).toMatch(/commit_token_writes/);
    expect((await oidc.refreshTokenGrant(config(), refreshed!.refresh_token!)).id_token).toBeTypeOf("string");
    // How the person signed in (a password) is in the code's ID token and the refresh grant's alike.
    const signedInWith = { amr: ["pwd"], acr: `urn:${new URL(config().serverMetadata().issuer).host}:acr:1fa` };
    expect(decodeJwt(tokens.id_token!)).toMatchObject(signedInWith);
    expect(decodeJwt(refreshed!.id_token!)).toMatchObject(signedInWith);
  });

  it("prompt=login asks the signed-in browser for its password again and then reaches the application", async () => {
    const browser = new Browser();
    const first = await startAuthorization(config(), params);
    expect((await signIn(browser, first, alice)).url.startsWith(REDIRECT_URI)).toBe(true);
    const again = await startAuthorization(config(), { ...params, prompt: [params.prompt, "login"].filter(Boolean).join(" ") });
    const login = await browser.follow(again.url.toString(), (url) => url.startsWith(REDIRECT_URI));
    expect(login.url).toContain("/interaction/"); // the sign-in page, not the application
    const page = await signIn(browser, again, alice);
    expect(page.url.startsWith(REDIRECT_URI), page.html.slice(0, 300)).toBe(true);
    const tokens = await exchange(config(), again, page.url);
    expect(decodeJwt(tokens.id_token!).amr).toEqual(["pwd"]);
  });
});
