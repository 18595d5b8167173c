// A full sign-in, refresh and logout with logging at its most verbose: no password, token, code,
// cookie or client secret appears in any log line.
import { afterAll, expect, it } from "vitest";
import * as oidc from "openid-client";
import { loggerOptions } from "../idp/logging.ts";
import { captureLogs } from "./support/log-capture.ts";
import { startTestIdp, type TestIdp } from "./support/idp.ts";
import { Browser } from "./support/browser.ts";
import { discover, exchange, signIn, startAuthorization, POST_LOGOUT_URI, REDIRECT_URI } from "./support/oidc-flow.ts";

let idp: TestIdp | undefined;
afterAll(async () => idp?.close());

it("keeps secrets out of the logs", async () => {
  const { stream, lines } = captureLogs();
  idp = await startTestIdp({ logger: { ...(loggerOptions("trace") as object), stream } });
  const password = "a very secret password";
  await idp.admin.addUser({ email: "alice@example.com", password });
  const { secret } = await idp.admin.addClient({ id: "partner", public: false, firstParty: true, redirectUris: [REDIRECT_URI], postLogoutRedirectUris: [POST_LOGOUT_URI] });
  const config = await discover(idp.issuer, "partner", secret);

  const browser = new Browser();
  const start = await startAuthorization(config);
  const callback = await signIn(browser, start, { email: "alice@example.com", password });
  const code = new URL(callback.url).searchParams.get("code")!;
  const tokens = await exchange(config, start, callback.url);
  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
  await oidc.fetchUserInfo(config, refreshed.access_token, tokens.claims()!.sub);
  const endSession = oidc.buildEndSessionUrl(config, { id_token_hint: refreshed.id_token!, post_logout_redirect_uri: POST_LOGOUT_URI });
  await browser.follow(endSession.toString(), (url) => url.startsWith(POST_LOGOUT_URI)); // signed out without a page

  const log = lines.join("");
  expect(lines.length).toBeGreaterThan(10); // the run was logged at all
  const secrets = { password, secret, code, ...pick(tokens), ...prefixed("refreshed_", pick(refreshed)) };
  for (const [name, value] of Object.entries(secrets)) {
    expect(value, name).toBeTruthy();
    expect(log.includes(value!), `${name} leaked into the logs`).toBe(false);
  }
  expect(log).not.toMatch(/_session=|_interaction=|_csrf=/);
});

function pick(tokens: oidc.TokenEndpointResponse) {
  return { access_token: tokens.access_token, refresh_token: tokens.refresh_token, id_token: tokens.id_token };
}

function prefixed(prefix: string, values: Record<string, string | undefined>) {
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [prefix + key, value]));
}
