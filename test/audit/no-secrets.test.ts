// A full run of every audited action, through the real CLI and a real listening IdP: then no
// password, client secret, token, authorization code, PKCE verifier or cookie appears anywhere in
// audit_events, details included.
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import * as oidc from "openid-client";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { Browser } from "../support/browser.ts";
import { discover, exchange, signIn, startAuthorization, POST_LOGOUT_URI, REDIRECT_URI } from "../support/oidc-flow.ts";
import { cliOk, lines } from "./run-cli.ts";

let idp: TestIdp | undefined;
let keysDir: string | undefined;
afterAll(async () => {
  await idp?.close();
  if (keysDir) await rm(keysDir, { recursive: true, force: true });
});

/** Every cookie value a Browser holds (its jar is private: tests read it anyway). */
function cookieValues(browser: Browser): string[] {
  const jar = (browser as unknown as { cookies: Map<string, Map<string, { value: string }>> }).cookies;
  return [...jar.values()].flatMap((cookies) => [...cookies.values()].map((cookie) => cookie.value));
}

// Six sign-ins and a dozen CLI runs: more than the default timeout on a busy machine.
it("keeps every secret of a full run out of the audit trail", { timeout: 120_000 }, async () => {
  let clockOffsetMs = 0;
  idp = await startTestIdp({ now: () => new Date(Date.now() + clockOffsetMs) });
  keysDir = await mkdtemp(path.join(os.tmpdir(), "idp-audit-secrets-keys-"));
  const env = { DATABASE_URL: idp.database.url!, KEYS_DIR: keysDir };
  const secrets: Record<string, string> = {};
  const keep = (name: string, value: string | undefined) => {
    expect(value, name).toBeTruthy();
    secrets[name] = value!;
  };

  // Operator actions, through the CLI.
  const passwords = { first: "Alice first passphrase 1", second: "Alice second passphrase 2", bob: "Bob only passphrase 3", wrong: "Not alice passphrase 4" };
  for (const [name, value] of Object.entries(passwords)) keep(`password ${name}`, value);
  await cliOk(["users", "add", "--email", "alice@example.com"], env, `${passwords.first}\n`);
  await cliOk(["users", "add", "--email", "bob@example.com"], env, `${passwords.bob}\n`);
  await cliOk(["users", "set-password", "alice@example.com"], env, `${passwords.second}\n`);
  await cliOk(["users", "disable", "bob@example.com"], env);
  await cliOk(["users", "enable", "bob@example.com"], env);
  const secretOf = (stdout: string) => /client secret \(shown once, store it now\): (\S+)/.exec(stdout)?.[1];
  const partnerSecret = secretOf(
    (await cliOk(["clients", "add", "--id", "partner", "--first-party", "--redirect-uri", REDIRECT_URI, "--post-logout-redirect-uri", POST_LOGOUT_URI], env))
      .stdout,
  );
  keep("partner secret", partnerSecret);
  keep("worker secret", secretOf((await cliOk(["clients", "add", "--id", "worker", "--service"], env)).stdout));
  keep("gone secret", secretOf((await cliOk(["clients", "add", "--id", "gone", "--service"], env)).stdout));
  await cliOk(["clients", "remove", "gone"], env);
  await cliOk(["keys", "generate"], env);

  // People and clients, through the IdP.
  const partner = await discover(idp.issuer, "partner", partnerSecret);
  const browsers: Browser[] = [];
  const signedIn = async (label: string, scope = "openid email offline_access") => {
    const browser = new Browser();
    browsers.push(browser);
    const start = await startAuthorization(partner, { scope });
    keep(`${label} verifier`, start.verifier);
    const callback = await signIn(browser, start, { email: "alice@example.com", password: passwords.second });
    keep(`${label} code`, new URL(callback.url).searchParams.get("code") ?? undefined);
    const tokens = await exchange(partner, start, callback.url);
    for (const kind of ["access_token", "refresh_token", "id_token"] as const) keep(`${label} ${kind}`, tokens[kind]);
    return { browser, start, callbackUrl: callback.url, tokens };
  };

  // A wrong password first (the sign-in events record what was typed as the email, never the password).
  const wrong = new Browser();
  browsers.push(wrong);
  const wrongStart = await startAuthorization(partner);
  const login = await wrong.follow(wrongStart.url.toString());
  const refused = await wrong.submit(login, "/login", { email: "alice@example.com", password: passwords.wrong });
  expect(refused.url.startsWith(REDIRECT_URI)).toBe(false);

  const first = await signedIn("first");
  await expect(exchange(partner, first.start, first.callbackUrl)).rejects.toBeTruthy(); // code reuse: grant.revoked
  const again = await signedIn("again");
  const refreshed = await oidc.refreshTokenGrant(partner, again.tokens.refresh_token!);
  keep("refreshed access_token", refreshed.access_token);
  keep("refreshed refresh_token", refreshed.refresh_token);
  await oidc.fetchUserInfo(partner, refreshed.access_token, again.tokens.claims()!.sub);
  await oidc.tokenRevocation(partner, refreshed.access_token); // token.revoked

  const second = await signedIn("second");
  await oidc.tokenRevocation(partner, second.tokens.refresh_token!); // token.revoked, grant.revoked

  const third = await signedIn("third");
  const rotated = await oidc.refreshTokenGrant(partner, third.tokens.refresh_token!);
  keep("rotated refresh_token", rotated.refresh_token);
  clockOffsetMs = (idp.config.refreshTokenReuseGraceSeconds + 1) * 1000;
  await expect(oidc.refreshTokenGrant(partner, third.tokens.refresh_token!)).rejects.toBeTruthy(); // reuse: grant.revoked
  clockOffsetMs = 0;

  const fourth = await signedIn("fourth", "openid email");
  const endSession = oidc.buildEndSessionUrl(partner, { id_token_hint: fourth.tokens.id_token!, post_logout_redirect_uri: POST_LOGOUT_URI });
  // The hint proves the session: signed out without the page (sign_out.succeeded, grant.revoked).
  expect((await fourth.browser.request(endSession.toString())).location?.startsWith(POST_LOGOUT_URI)).toBe(true);
  const fifth = await signedIn("fifth", "openid email");
  const confirm = await fifth.browser.follow(`${idp.issuer}/session/end?${new URLSearchParams({ client_id: "partner", post_logout_redirect_uri: POST_LOGOUT_URI })}`);
  await fifth.browser.submit(confirm, "/session/end/confirm", { logout: "yes" }, (url) => url.startsWith(POST_LOGOUT_URI)); // the same, confirmed on the page

  const worker = await discover(idp.issuer, "worker", secrets["worker secret"]);
  keep("service token", (await oidc.clientCredentialsGrant(worker)).access_token);

  browsers.flatMap(cookieValues).forEach((value, index) => keep(`cookie ${index}`, value));
  expect(Object.keys(secrets).filter((name) => name.startsWith("cookie")).length).toBeGreaterThan(4);

  // What the database holds instead of the secrets must not be copied either.
  const { rows: hashes } = await idp.database.db.query<{ hash: string }>(
    "SELECT password_hash AS hash FROM users UNION ALL SELECT secret_hash FROM clients WHERE secret_hash IS NOT NULL",
  );
  hashes.forEach(({ hash }, index) => keep(`stored hash ${index}`, hash));
  keep("gone secret hash", createHash("sha256").update(secrets["gone secret"]!).digest("hex"));

  // Every audited action happened, so the rows checked below exist: the sign-ins most of all, whose
  // rows are written from the very requests that carried the passwords.
  const { rows } = await idp.database.db.query<{ event: string; line: string }>(
    "SELECT event, row_to_json(audit_events)::text AS line FROM audit_events ORDER BY id",
  );
  const count = (event: string) => rows.filter((row) => row.event === event).length;
  expect(count("sign_in.succeeded"), "sign_in.succeeded rows").toBe(6); // first, again, second, third, fourth, fifth
  expect(count("sign_in.failed"), "sign_in.failed rows").toBe(1); // the wrong password
  const failed = JSON.parse(rows.find((row) => row.event === "sign_in.failed")!.line);
  expect(failed).toMatchObject({ email: "alice@example.com", details: { reason: "invalid_credentials" } });
  expect(rows.filter((row) => row.event === "sign_out.succeeded").map((row) => JSON.parse(row.line).details.confirmation)).toEqual(["id_token_hint", "form"]);
  const events = new Set(rows.map((row) => row.event));
  for (const event of [
    "user.created",
    "password.changed",
    "user.disabled",
    "user.enabled",
    "client.created",
    "client.removed",
    "key.generated",
    "token.revoked",
    "grant.revoked",
  ]) {
    expect(events, event).toContain(event);
  }
  const reasons = rows.filter((row) => row.event === "grant.revoked").map((row) => JSON.parse(row.line).details.reason);
  expect(reasons.sort()).toEqual(["authorization_code_reuse", "logout", "logout", "refresh_token_reuse", "token_revoked"]);

  // And none of the secrets is in any row, whichever column or detail.
  const trail = rows.map((row) => row.line).join("\n");
  expect(lines(trail).length).toBe(rows.length);
  for (const [name, value] of Object.entries(secrets)) {
    expect(value.length, name).toBeGreaterThanOrEqual(8);
    expect(trail.includes(value), `${name} is in audit_events`).toBe(false);
  }
});
