// The operator's side of second factors, through the real CLI (runCli) against a running IdP's
// database and keys: `idp users show` (factors, sessions, lock state), `idp users reset-mfa`
// (audited, mailed through the outbox in the same transaction; the person then sets up a new app
// while signing in), and `idp clients add --require-mfa`.
import * as OTPAuth from "otpauth";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../idp/cli/commands.ts";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { Browser } from "../support/browser.ts";
import { authorizationQuery, REDIRECT_URI } from "../support/oidc-flow.ts";

const password = "correct horse battery";
let idp: TestIdp;

async function idpCommand(...argv: string[]): Promise<{ status: number | void; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const env = { DATABASE_URL: idp.database.url!, KEYS_DIR: idp.config.keysDir, ISSUER: idp.issuer, LOG_LEVEL: "silent" };
  const status = await runCli(argv, env, { stdout: { write: (text: string) => (stdout += text) }, stderr: { write: (text: string) => (stderr += text) } });
  return { status, stdout, stderr };
}

/** Signs in to the client that requires a second factor; sets up the app when asked; the page reached. */
async function signIn(browser: Browser, email: string) {
  const login = await browser.follow(`${idp.issuer}/auth?${authorizationQuery({ client_id: "strict", state: "s", nonce: "n" })}`);
  return browser.submit(login, "/login", { email, password }, (url) => url.startsWith(REDIRECT_URI));
}

beforeAll(async () => {
  idp = await startTestIdp({ env: { SIGN_IN_LIMIT_PER_IP: "0" } });
  await idp.admin.addUser({ email: "owen@example.com", password, emailVerified: true });
});
afterAll(async () => idp?.close());

describe("idp clients add --require-mfa, users show, users reset-mfa", () => {
  it("adds a client that requires a second factor", async () => {
    const added = await idpCommand("clients", "add", "--id", "strict", "--public", "--first-party", "--redirect-uri", REDIRECT_URI, "--require-mfa");
    expect(added.stdout).toContain("added public client strict (second factor required)");
    expect((await idp.admin.clients.find("strict"))?.requireMfa).toBe(true);
    await expect(idpCommand("clients", "add", "--id", "svc", "--service", "--require-mfa")).rejects.toThrow(/--require-mfa is for clients people sign in to/);
  });

  it("shows the app, recovery codes and lock state, and resets them: audited, mailed, set up again at the next sign-in", async () => {
    const before = await idpCommand("users", "show", "owen@example.com");
    expect(before.stdout).toMatch(/authenticator app\s+off/);
    expect(before.stdout).toMatch(/locked\s+no/);

    const browser = new Browser();
    const enrol = await signIn(browser, "owen@example.com");
    const secret = /id="totp-secret">([A-Z2-7 ]+)</.exec(enrol.html)![1]!.replace(/ /g, "");
    expect((await idpCommand("users", "show", "owen@example.com")).stdout).toMatch(/authenticator app\s+being set up/);
    const code = OTPAuth.TOTP.generate({ secret: OTPAuth.Secret.fromBase32(secret) });
    const codes = await browser.submit(enrol, "/second-factor/enrol", { code });
    expect(codes.html).toContain("recovery-codes");
    await browser.submit(codes, "/second-factor/continue", {}, (url) => url.startsWith(REDIRECT_URI));
    const on = await idpCommand("users", "show", "owen@example.com");
    expect(on.stdout).toMatch(/authenticator app\s+on/);
    expect(on.stdout).toMatch(/recovery codes\s+10 left/);

    const reset = await idpCommand("users", "reset-mfa", "owen@example.com");
    expect(reset.stdout).toContain("removed owen@example.com's authenticator app and 10 recovery codes");
    expect((await idpCommand("users", "show", "owen@example.com")).stdout).toMatch(/authenticator app\s+off/);
    // The operator module's reset factors (as the admin API's): the factors' own row, then the reset's, both the CLI's.
    const audit = await idp.database.db.query<{ event: string; actor: string; details: Record<string, unknown> }>(
      "SELECT event, actor, details - 'os_user' AS details FROM audit_events WHERE event IN ('mfa.reset', 'user.factors_reset') ORDER BY id",
    );
    expect(audit.rows).toEqual([
      { event: "mfa.reset", actor: "cli", details: { totp: true, recovery_codes: 10, others: 0, change: "mfa_reset" } },
      { event: "user.factors_reset", actor: "cli", details: { second_factors: 11, passkeys: 0, sessions_revoked: expect.any(Number) } },
    ]);
    const mail = await idp.database.db.query<{ template: string; recipient: string }>("SELECT template, recipient FROM mail_outbox WHERE template = 'security_notice' ORDER BY id");
    // One for the enrolment, one for the reset.
    expect(mail.rows).toEqual([
      { template: "security_notice", recipient: "owen@example.com" },
      { template: "security_notice", recipient: "owen@example.com" },
    ]);
    // The next sign-in to the strict client sets up a new app.
    expect((await signIn(new Browser(), "owen@example.com")).html).toContain("totp-secret");
    await expect(idpCommand("users", "reset-mfa", "nobody@example.com")).rejects.toThrow(/no user with email nobody@example.com/);
  });
});
