// Sign-up by invitation end to end: the real `idp` CLI (a child process) invites an address while a
// real IdP (SIGN_UP=invite) listens, the IdP's outbox worker sends the mail to a real SMTP server,
// and the link's page creates the account over HTTP; openid-client as the relying party signs the
// new person in and reads email_verified. Also: a GET of the link (a mail scanner's) creates
// nothing; a link works once, expires, is replaced by a newer invitation and dies when revoked; a
// refused password leaves it usable; an account made meanwhile rolls back; concurrent posts make
// one account; and the CLI's refusals.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import * as oidc from "openid-client";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { Browser } from "../support/browser.ts";
import { discover, exchange, signIn, startAuthorization, REDIRECT_URI } from "../support/oidc-flow.ts";
import { invitationToken, TestMailServer } from "../support/smtp.ts";
import { cliOk, lines, runCli } from "../audit/run-cli.ts";
import { hashToken } from "../../idp/accounts/password-reset.ts";
import { translate } from "../../idp/pages/i18n.ts";
import { captureLogs } from "../support/log-capture.ts";
import { loggerOptions } from "../../idp/logging.ts";
import { routeLabel } from "../../idp/http/observability.ts";

const PASSWORD = "correct horse battery";
const DAY_MS = 24 * 60 * 60 * 1000;
const ISO = "\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z";

let smtp: TestMailServer;
let idp: TestIdp;
let web: oidc.Configuration;
let cliEnv: Record<string, string>;
let clockOffsetMs = 0;
let count = 0;

beforeAll(async () => {
  smtp = await TestMailServer.start();
  idp = await startTestIdp({
    now: () => new Date(Date.now() + clockOffsetMs),
    env: { SIGN_UP: "invite", SMTP_URL: smtp.url(), BRAND_NAME: "Acme", MAIL_POLL_INTERVAL_MS: "100", SIGN_IN_DELAY_MAX_MS: "0" },
  });
  await idp.admin.addClient({ id: "web", name: "Web App", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
  web = await discover(idp.issuer, "web");
  // The CLI as an operator runs it beside the server: its database, keys, mail server and SIGN_UP.
  cliEnv = { DATABASE_URL: idp.database.url!, KEYS_DIR: idp.config.keysDir, SMTP_URL: smtp.url(), SIGN_UP: "invite" };
}, 60_000);
afterAll(async () => {
  await idp?.close();
  await smtp?.stop();
});
beforeEach(() => {
  clockOffsetMs = 0;
});

const newEmail = () => `invited${++count}@example.com`;
const linkOf = (token: string) => `${idp.baseUrl}/invite/${token}`;

async function invitationRow(token: string) {
  const { rows } = await idp.database.db.query<{ consumed_at: Date | null; revoked_at: Date | null }>(
    "SELECT consumed_at, revoked_at FROM invitations WHERE token_hash = $1",
    [hashToken(token)],
  );
  return rows[0];
}

/** Invites the address with the CLI and returns the token of the mail it got (the nth to it). */
async function invite(email: string, extra: string[] = [], nth = 1): Promise<string> {
  await cliOk(["users", "invite", "--email", email, ...extra], cliEnv);
  return invitationToken((await smtp.waitFor(email, nth))[nth - 1]!);
}

/** Opens the link and posts the password, in one browser. */
async function accept(token: string, password = PASSWORD, repeat = password, browser = new Browser()) {
  const page = await browser.request(linkOf(token));
  expect(page.status, page.html.slice(0, 500)).toBe(200);
  return browser.submit(page, `/invite/${token}`, { password, repeat });
}

async function signedIn(email: string, password = PASSWORD) {
  const start = await startAuthorization(web);
  const page = await signIn(new Browser(), start, { email, password });
  expect(page.url.startsWith(REDIRECT_URI), page.html.slice(0, 500)).toBe(true);
  return exchange(web, start, page.url);
}

describe("idp users invite", () => {
  it("mails a link; opening it creates nothing, posting a password creates the account, verified, and it signs in", async () => {
    const email = newEmail();
    const invited = await cliOk(["users", "invite", "--email", email, "--name", "Ivy Invited"], cliEnv);
    expect(lines(invited.stdout)).toEqual([
      expect.stringMatching(new RegExp(`^invitation mail queued for ${email} \\(the link works until ${ISO}; a running server sends it\\)$`)),
    ]);
    const [mail] = await smtp.waitFor(email);
    expect(mail!.subject).toBe("You are invited to Acme");
    const token = invitationToken(mail!);
    expect(mail!.text).toContain("Hello Ivy Invited,");
    expect(mail!.text).toContain(linkOf(token));
    expect(mail!.text).toContain("The link works once, for 7 days.");
    expect(mail!.html).toContain(`href="${linkOf(token)}"`);

    // A mail scanner fetches the link: nothing is used, nobody created.
    for (let i = 0; i < 3; i++) {
      const scanned = await fetch(linkOf(token), { headers: { accept: "text/html" } });
      expect(scanned.status).toBe(200);
      const text = await scanned.text();
      expect(text).toContain("<h1>Create your account</h1>");
      expect(text).toContain(`<strong>${email}</strong>`);
      expect(text).toContain('autocomplete="new-password"');
      expect(text).toContain("At least 8 characters.");
    }
    expect((await fetch(linkOf(token), { method: "HEAD" })).status).toBe(200);
    expect(await invitationRow(token)).toEqual({ consumed_at: null, revoked_at: null });
    expect(await idp.admin.users.findByEmail(email)).toBeUndefined();

    // Without the form's CSRF token the post is refused and creates nothing.
    const forged = await new Browser().request(linkOf(token), { form: { _csrf: "forged", password: PASSWORD, repeat: PASSWORD } });
    expect(forged.status).toBe(403);
    expect(await idp.admin.users.findByEmail(email)).toBeUndefined();

    const earlier = new Browser();
    const openedEarlier = await earlier.request(linkOf(token));
    const done = await accept(token);
    expect(done.status).toBe(200);
    expect(done.html).toContain("<h1>Your account is ready</h1>");
    expect(done.html).toContain("sign in with your email address and your new password");
    const user = (await idp.admin.users.findByEmail(email))!;
    expect(user).toMatchObject({ email, name: "Ivy Invited", emailVerified: true, disabled: false });
    expect((await invitationRow(token))!.consumed_at).toBeInstanceOf(Date);

    const tokens = await signedIn(email);
    expect(tokens.claims()).toMatchObject({ sub: user.id, email, email_verified: true });
    const info = await oidc.fetchUserInfo(web, tokens.access_token, user.id);
    expect(info).toMatchObject({ email, email_verified: true });

    // The audit trail: invited by the CLI, created by the person; no token anywhere in it.
    const events = await idp.database.db.query<{ event: string; actor: string; user_id: string | null; details: Record<string, unknown> }>(
      "SELECT event, actor, user_id, details FROM audit_events WHERE lower(email) = $1 AND event LIKE 'user.%' ORDER BY id",
      [email],
    );
    expect(events.rows.map((row) => [row.event, row.actor, row.user_id])).toEqual([
      ["user.invited", "cli", null],
      ["user.created", `user:${user.id}`, user.id],
    ]);
    expect(events.rows[0]!.details).toMatchObject({ locale: "en", replaced: 0 });
    expect(events.rows[1]!.details).toMatchObject({ method: "invitation", invited_by: expect.stringMatching(/^cli(:.+)?$/) });
    const everything = await idp.database.db.query<{ all: string }>("SELECT string_agg(a::text, '|') AS all FROM audit_events a");
    expect(everything.rows[0]!.all).not.toContain(token);
    const outbox = await idp.database.db.query("SELECT 1 FROM mail_outbox WHERE recipient = $1 AND payload IS NULL AND sent_at IS NOT NULL", [email]);
    expect(outbox.rowCount).toBe(1);

    // Used: the link is refused, on GET and on POST, with the one page for such links.
    const reopened = await new Browser().request(linkOf(token));
    expect(reopened.status).toBe(400);
    expect(reopened.html).toContain('data-error="invalid_link"');
    expect(reopened.html).toContain("This link can no longer be used");
    const replayed = await earlier.submit(openedEarlier, `/invite/${token}`, { password: "another fine passphrase", repeat: "another fine passphrase" });
    expect(replayed.status).toBe(400);
    expect(replayed.html).toContain('data-error="invalid_link"');
    expect((await signedIn(email)).claims()!.sub).toBe(user.id); // the first password still signs in
  });

  it("refuses a password the policy refuses, or a repeat that differs, and leaves the invitation usable", async () => {
    const email = newEmail();
    const token = await invite(email);
    const browser = new Browser();
    const page = await browser.request(linkOf(token));
    const short = await browser.submit(page, `/invite/${token}`, { password: "short", repeat: "short" });
    expect(short.status).toBe(400);
    expect(short.html).toContain("The password must have at least 8 characters.");
    const local = email.split("@")[0]!;
    const asEmail = await browser.submit(short, `/invite/${token}`, { password: local, repeat: local });
    expect(asEmail.status).toBe(400);
    expect(asEmail.html).toContain("must not be your email address");
    const mismatch = await browser.submit(asEmail, `/invite/${token}`, { password: PASSWORD, repeat: `${PASSWORD}!` });
    expect(mismatch.status).toBe(400);
    expect(mismatch.html).toContain("The two passwords are not the same.");
    expect(await invitationRow(token)).toEqual({ consumed_at: null, revoked_at: null });
    expect(await idp.admin.users.findByEmail(email)).toBeUndefined();

    const done = await browser.submit(mismatch, `/invite/${token}`, { password: PASSWORD, repeat: PASSWORD });
    expect(done.status).toBe(200);
    expect((await idp.admin.users.findByEmail(email))!.emailVerified).toBe(true);
  });

  it("replaces an older invitation with a newer one, in the language asked for; a link stops working after 7 days", async () => {
    const email = newEmail();
    const first = await invite(email);
    // The address as typed the second time (matched case-insensitively): the account would get it so.
    const typed = `I${email.slice(1)}`;
    const second = await invite(typed, ["--locale", "de"]);
    expect((await invitationRow(first))!.revoked_at).toBeInstanceOf(Date);
    expect((await new Browser().request(linkOf(first))).status).toBe(400);

    const browser = new Browser();
    const page = await browser.request(linkOf(second), { headers: { "accept-language": "en" } });
    expect(page.status).toBe(200);
    expect(page.html).toContain('<html lang="de">'); // the language of the mail
    expect(page.html).toContain(`<h1>${translate("de", "invitation.create.title")}</h1>`);
    const listed = lines((await cliOk(["users", "invitations"], cliEnv)).stdout).filter((line) => line.toLowerCase().startsWith(email));
    expect(listed).toEqual([expect.stringMatching(new RegExp(`^${typed}\\t${ISO}\\t${ISO}\\tcli(:.+)?$`))]);

    // Seven days later the page already open cannot create the account, and the link shows the one refusal.
    clockOffsetMs = 7 * DAY_MS + 1000;
    const late = await browser.submit(page, `/invite/${second}`, { password: PASSWORD, repeat: PASSWORD });
    expect(late.status).toBe(400);
    expect(late.html).toContain('<html lang="de">');
    expect(late.html).toContain(translate("de", "invitation.invalid.title"));
    expect((await new Browser().request(linkOf(second))).status).toBe(400);
    expect(await idp.admin.users.findByEmail(email)).toBeUndefined();
    expect(await invitationRow(second)).toEqual({ consumed_at: null, revoked_at: null });
  });

  it("lists pending invitations, and uninvite revokes one: its link stops working", async () => {
    const email = newEmail();
    const token = await invite(email);
    const before = lines((await cliOk(["users", "invitations"], cliEnv)).stdout);
    expect(before.some((line) => line.startsWith(`${email}\t`))).toBe(true);

    const revoked = await cliOk(["users", "uninvite", email.toUpperCase()], cliEnv);
    expect(lines(revoked.stdout)).toEqual([`revoked the invitation of ${email}`]);
    expect((await invitationRow(token))!.revoked_at).toBeInstanceOf(Date);
    const page = await new Browser().request(linkOf(token));
    expect(page.status).toBe(400);
    expect(page.html).toContain("This link can no longer be used");
    const after = lines((await cliOk(["users", "invitations"], cliEnv)).stdout);
    expect(after.some((line) => line.startsWith(`${email}\t`))).toBe(false);

    const again = await runCli(["users", "uninvite", email], cliEnv);
    expect(again.status).toBe(1);
    expect(lines(again.stderr)).toEqual([`idp: no pending invitation for ${email}`]);
    const audited = await idp.database.db.query<{ actor: string }>("SELECT actor FROM audit_events WHERE email = $1 AND event = 'user.invitation_revoked'", [email]);
    expect(audited.rows).toEqual([{ actor: "cli" }]);
  });

  it("lets exactly one of several concurrent posts use the invitation: one account", async () => {
    const email = newEmail();
    const token = await invite(email);
    const opened = await Promise.all([0, 1, 2].map(async () => {
      const browser = new Browser();
      return { browser, page: await browser.request(linkOf(token)) };
    }));
    const results = await Promise.all(
      opened.map(({ browser, page }, i) => browser.submit(page, `/invite/${token}`, { password: `${PASSWORD} ${i}`, repeat: `${PASSWORD} ${i}` })),
    );
    expect(results.map((result) => result.status).sort()).toEqual([200, 400, 400]);
    const users = await idp.database.db.query("SELECT 1 FROM users WHERE lower(email) = $1", [email]);
    expect(users.rowCount).toBe(1);
    const created = await idp.database.db.query("SELECT 1 FROM audit_events WHERE email = $1 AND event = 'user.created'", [email]);
    expect(created.rowCount).toBe(1);
  });

  it("keeps one pending invitation per address when several invites run at once", async () => {
    const email = newEmail();
    const runs = await Promise.all([0, 1, 2].map(() => runCli(["users", "invite", "--email", email], cliEnv)));
    expect(runs.some((run) => run.status === 0)).toBe(true);
    for (const run of runs.filter((run) => run.status !== 0)) {
      expect(lines(run.stderr)).toEqual([`idp: ${email} was invited at the same moment by someone else: run it again`]);
    }
    const open = await idp.database.db.query("SELECT 1 FROM invitations WHERE email = $1 AND consumed_at IS NULL AND revoked_at IS NULL", [email]);
    expect(open.rowCount).toBe(1);
  });

  it("creates nothing when an account with the address was made meanwhile: a clear page, the invitation untouched", async () => {
    const email = newEmail();
    const token = await invite(email);
    const browser = new Browser();
    const page = await browser.request(linkOf(token));
    const existing = await idp.admin.addUser({ email, password: "operator chose this" });
    const refused = await browser.submit(page, `/invite/${token}`, { password: PASSWORD, repeat: PASSWORD });
    expect(refused.status).toBe(409);
    expect(refused.html).toContain('data-error="account_exists"');
    expect(refused.html).toContain("<h1>You already have an account</h1>");
    expect(await invitationRow(token)).toEqual({ consumed_at: null, revoked_at: null });
    expect((await idp.admin.users.findByEmail(email))!.id).toBe(existing.id);
    const created = await idp.database.db.query<{ actor: string }>("SELECT actor FROM audit_events WHERE email = $1 AND event = 'user.created'", [email]);
    expect(created.rows).toEqual([{ actor: "cli" }]); // only the operator's
  });

  it("refuses an address that has an account, SIGN_UP=off, and a configuration that cannot send mail, queueing nothing", async () => {
    const email = newEmail();
    await idp.admin.addUser({ email, password: PASSWORD });
    const exists = await runCli(["users", "invite", "--email", email.toUpperCase()], cliEnv);
    expect(exists.status).toBe(1);
    expect(lines(exists.stderr)).toEqual([`idp: ${email} has an account already: nothing to invite (\`idp users send-verification\` confirms its address)`]);

    const other = newEmail();
    const { SIGN_UP: _, ...signUpOff } = cliEnv;
    const off = await runCli(["users", "invite", "--email", other], signUpOff);
    expect(off.status).toBe(1);
    expect(lines(off.stderr)).toEqual(["idp: SIGN_UP=off: add the user with `idp users add`, or set SIGN_UP=invite or open"]);
    // Listing and revoking stay possible (what is left from before SIGN_UP was turned off).
    expect((await runCli(["users", "invitations"], signUpOff)).status).toBe(0);

    const { SMTP_URL: __, ...withoutSmtp } = cliEnv;
    const noMail = await runCli(["users", "invite", "--email", other], { ...withoutSmtp, NODE_ENV: "production", ISSUER: idp.issuer });
    expect(noMail.status).toBe(1);
    expect(noMail.stderr).toMatch(/^idp: SIGN_UP=invite needs SMTP_URL in production/);

    const badEmail = await runCli(["users", "invite", "--email", "not-an-address"], cliEnv);
    expect(lines(badEmail.stderr)).toEqual(['idp: "not-an-address" is not an email address']);
    const badLocale = await runCli(["users", "invite", "--email", other, "--locale", "xx"], cliEnv);
    expect(lines(badLocale.stderr)[0]).toBe("idp: --locale must be one of en, de, es, fr, ja");

    const rows = await idp.database.db.query("SELECT 1 FROM invitations WHERE lower(email) IN ($1, $2)", [email, other]);
    expect(rows.rowCount).toBe(0);
    const queued = await idp.database.db.query("SELECT 1 FROM mail_outbox WHERE lower(recipient) IN ($1, $2)", [email, other]);
    expect(queued.rowCount).toBe(0);
  });

  it("shows a link that cannot be used in the language the browser asks for", async () => {
    const page = await new Browser().request(linkOf("A".repeat(43)), { headers: { "accept-language": "ja" } });
    expect(page.status).toBe(400);
    expect(page.html).toContain('<html lang="ja">');
    expect(page.html).toContain(`<h1>${translate("ja", "invitation.invalid.title")}</h1>`);
    const malformed = await new Browser().request(`${idp.baseUrl}/invite/short`);
    expect(malformed.status).toBe(400);
  });
});

describe("an invitation link's token", () => {
  it("stays out of the request logs and the metrics' route labels", async () => {
    const email = newEmail();
    const token = await invite(email);
    // An IdP logging every request as it does in production (on another database: the token is unknown there).
    const logs = captureLogs();
    const logged = await startTestIdp({
      env: { SIGN_UP: "invite", SMTP_URL: smtp.url() },
      logger: { ...(loggerOptions("trace") as object), stream: logs.stream },
      listen: false,
    });
    try {
      expect((await logged.app.inject({ url: `/invite/${token}`, headers: { accept: "text/html" } })).statusCode).toBe(400);
      expect((await logged.app.inject({ method: "POST", url: `/invite/${token}`, payload: { password: PASSWORD, repeat: PASSWORD, _csrf: "x" } })).statusCode).toBe(403);
      const log = logs.lines.join("");
      expect(log).toContain('"url":"/invite/[redacted]"');
      expect(log).not.toContain(token);
    } finally {
      await logged.close();
    }
    expect(routeLabel(`/invite/${token}?x=1`, "/oidc")).toBe("/invite/:token");
  });
});

describe("without sign-up", () => {
  it("offers no invitation pages with SIGN_UP=off", async () => {
    const off = await startTestIdp({ env: { SMTP_URL: smtp.url() } });
    try {
      expect((await new Browser().request(`${off.baseUrl}/invite/${"A".repeat(43)}`)).status).toBe(404);
    } finally {
      await off.close();
    }
  });
});
