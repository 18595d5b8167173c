// Email verification end to end: the real `idp` CLI (a child process) queues the mail while a real
// IdP listens, the IdP's outbox worker sends it to a real SMTP server, and the link is opened and
// confirmed over HTTP; openid-client as the relying party reads email_verified in the ID tokens.
// Also: a GET of the link (a mail scanner's) uses nothing, a link works once, expires, is replaced
// by a newer one and is dead while its person is disabled; the CLI's refusals; a reset by link
// verifies the address too; and in development without SMTP the mail is an .eml file.
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import * as oidc from "openid-client";
import { simpleParser } from "mailparser";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { Browser } from "../support/browser.ts";
import { discover, exchange, signIn, startAuthorization, REDIRECT_URI } from "../support/oidc-flow.ts";
import { resetToken, TestMailServer, verificationToken } from "../support/smtp.ts";
import { cliOk, lines, runCli } from "../audit/run-cli.ts";
import { hashToken } from "../../idp/accounts/password-reset.ts";
import { translate } from "../../idp/pages/i18n.ts";

const PASSWORD = "correct horse battery";
const DAY_MS = 24 * 60 * 60 * 1000;

let smtp: TestMailServer;
let idp: TestIdp;
let web: oidc.Configuration;
let cliEnv: Record<string, string>;
let clockOffsetMs = 0;
let userCount = 0;

beforeAll(async () => {
  smtp = await TestMailServer.start();
  idp = await startTestIdp({
    now: () => new Date(Date.now() + clockOffsetMs),
    env: { SMTP_URL: smtp.url(), BRAND_NAME: "Acme", MAIL_POLL_INTERVAL_MS: "100", SIGN_IN_DELAY_MAX_MS: "0", PASSWORD_RESET_LIMIT_PER_IP: "0" },
  });
  await idp.admin.addClient({ id: "web", name: "Web App", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
  web = await discover(idp.issuer, "web");
  // The CLI as an operator runs it beside the server: its database, keys and mail server.
  cliEnv = { DATABASE_URL: idp.database.url!, KEYS_DIR: idp.config.keysDir, SMTP_URL: smtp.url() };
}, 60_000);
afterAll(async () => {
  await idp?.close();
  await smtp?.stop();
});
beforeEach(() => {
  clockOffsetMs = 0;
});

const newEmail = () => `verify${++userCount}@example.com`;

/** An ID token (and the rest) for a fresh sign-in of the person. */
async function signedIn(email: string, password = PASSWORD) {
  const start = await startAuthorization(web);
  const page = await signIn(new Browser(), start, { email, password });
  expect(page.url.startsWith(REDIRECT_URI), page.html.slice(0, 500)).toBe(true);
  return exchange(web, start, page.url);
}

async function verified(email: string): Promise<boolean> {
  return (await idp.admin.users.findByEmail(email))!.emailVerified;
}

async function tokenRow(token: string) {
  const { rows } = await idp.database.db.query<{ consumed_at: Date | null; revoked_at: Date | null }>(
    "SELECT consumed_at, revoked_at FROM one_time_tokens WHERE purpose = 'email_verification' AND token_hash = $1",
    [hashToken(token)],
  );
  return rows[0];
}

const linkOf = (token: string) => `${idp.baseUrl}/verify-email/${token}`;

/** Opens the link and presses its button, in one browser. */
async function confirm(token: string, browser = new Browser()) {
  const page = await browser.request(linkOf(token));
  expect(page.status, page.html.slice(0, 500)).toBe(200);
  return browser.submit(page, `/verify-email/${token}`);
}

describe("idp users add --send-verification", () => {
  it("mails a link; opening it changes nothing, confirming it verifies the address, and ID tokens say so from then on", async () => {
    const email = newEmail();
    const added = await cliOk(["users", "add", "--email", email, "--name", "Vera", "--send-verification"], cliEnv, `${PASSWORD}\n`);
    expect(lines(added.stdout)).toEqual([
      expect.stringMatching(new RegExp(`^added user ${email} \\(sub [0-9a-f-]{36}\\)$`)),
      `verification mail queued for ${email} (the link works for 24 hours; a running server sends it)`,
    ]);
    const before = await signedIn(email);
    expect(before.claims()).toMatchObject({ email, email_verified: false });

    // The CLI queued it; this server's worker, polling the outbox, sent it.
    const [mail] = await smtp.waitFor(email);
    expect(mail!.subject).toBe("Confirm your email address for Acme");
    const token = verificationToken(mail!);
    expect(mail!.text).toContain(linkOf(token));
    expect(mail!.text).toContain("The link works once, for 24 hours.");
    expect(mail!.html).toContain(`href="${linkOf(token)}"`);

    // A mail scanner fetches the link: nothing is used, nothing verified.
    for (let i = 0; i < 3; i++) {
      const scanned = await fetch(linkOf(token), { headers: { accept: "text/html" } });
      expect(scanned.status).toBe(200);
      expect(await scanned.text()).toContain("Confirm my email address");
    }
    expect((await fetch(linkOf(token), { method: "HEAD" })).status).toBe(200);
    expect(await tokenRow(token)).toEqual({ consumed_at: null, revoked_at: null });
    expect(await verified(email)).toBe(false);

    // Without the form's CSRF token the post is refused and changes nothing.
    const forged = await new Browser().request(linkOf(token), { form: { _csrf: "forged" } });
    expect(forged.status).toBe(403);
    expect(await verified(email)).toBe(false);

    const earlier = new Browser();
    const openedEarlier = await earlier.request(linkOf(token));
    const done = await confirm(token);
    expect(done.status).toBe(200);
    expect(done.html).toContain("Email address confirmed");
    expect(done.html).toContain("You can close this page");
    expect(await verified(email)).toBe(true);
    expect((await tokenRow(token))!.consumed_at).toBeInstanceOf(Date);

    // Tokens issued from now on say so: a new sign-in, and a refresh of the earlier one.
    expect((await signedIn(email)).claims()).toMatchObject({ email_verified: true });
    expect((await oidc.refreshTokenGrant(web, before.refresh_token!)).claims()).toMatchObject({ email_verified: true });

    // The audit trail: sent by the CLI, verified by the person; no token anywhere in it.
    const user = (await idp.admin.users.findByEmail(email))!;
    const events = await idp.database.db.query<{ event: string; actor: string; details: Record<string, unknown> }>(
      "SELECT event, actor, details FROM audit_events WHERE user_id = $1 AND event LIKE 'email.%' ORDER BY id",
      [user.id],
    );
    expect(events.rows.map((row) => [row.event, row.actor])).toEqual([
      ["email.verification_sent", "cli"],
      ["email.verified", `user:${user.id}`],
    ]);
    expect(events.rows[0]!.details).toMatchObject({ locale: "en" });
    expect(events.rows[1]!.details).toMatchObject({ method: "verification_link", was_verified: false });
    const everything = await idp.database.db.query<{ all: string }>("SELECT string_agg(a::text, '|') AS all FROM audit_events a");
    expect(everything.rows[0]!.all).not.toContain(token);
    const outbox = await idp.database.db.query("SELECT 1 FROM mail_outbox WHERE recipient = $1 AND payload IS NULL AND sent_at IS NOT NULL", [email]);
    expect(outbox.rowCount).toBe(1);

    // Used: the link is refused, on GET and on POST, with the one page for such links.
    const reopened = await new Browser().request(linkOf(token));
    expect(reopened.status).toBe(400);
    expect(reopened.html).toContain('data-error="invalid_link"');
    expect(reopened.html).toContain("This link can no longer be used");
    const replayed = await earlier.submit(openedEarlier, `/verify-email/${token}`);
    expect(replayed.status).toBe(400);
    expect(replayed.html).toContain('data-error="invalid_link"');
    const audited = await idp.database.db.query("SELECT 1 FROM audit_events WHERE user_id = $1 AND event = 'email.verified'", [user.id]);
    expect(audited.rowCount).toBe(1);
  });

  it("refuses --verified with --send-verification, and --send-verification where no mail can be sent, adding nobody", async () => {
    const email = newEmail();
    const both = await runCli(["users", "add", "--email", email, "--verified", "--send-verification"], cliEnv, `${PASSWORD}\n`);
    expect(both.status).toBe(1);
    expect(lines(both.stderr)).toEqual(["idp: --verified and --send-verification exclude each other: choose one", "Run `idp help` for usage."]);

    const { SMTP_URL: _, ...withoutSmtp } = cliEnv;
    const production = { ...withoutSmtp, NODE_ENV: "production", ISSUER: idp.issuer };
    const noMail = await runCli(["users", "add", "--email", email, "--send-verification"], production, `${PASSWORD}\n`);
    expect(noMail.status).toBe(1);
    expect(lines(noMail.stderr)).toEqual(["idp: this configuration cannot send mail (production without SMTP_URL): set SMTP_URL as the server has it, or use --verified"]);

    const noKeys = await runCli(["users", "add", "--email", email, "--send-verification"], { ...cliEnv, KEYS_DIR: path.join(idp.config.keysDir, "elsewhere") }, `${PASSWORD}\n`);
    expect(noKeys.status).toBe(1);
    expect(noKeys.stderr).toMatch(/^idp: no cookie keys in .*elsewhere: run this with the server's KEYS_DIR/);

    expect(await idp.admin.users.findByEmail(email)).toBeUndefined();
    expect(smtp.to(email)).toEqual([]);
  });

  it("--verified (and the older --email-verified) marks the address verified and sends nothing; without either it stays unverified", async () => {
    const emails: string[] = [];
    for (const flag of ["--verified", "--email-verified"]) {
      const email = newEmail();
      emails.push(email);
      await cliOk(["users", "add", "--email", email, flag], cliEnv, `${PASSWORD}\n`);
      expect(await verified(email)).toBe(true);
      expect((await signedIn(email)).claims()).toMatchObject({ email_verified: true });
      const refused = await runCli(["users", "send-verification", email], cliEnv);
      expect(lines(refused.stderr)).toEqual([`idp: ${email} is already verified: nothing to send`]);
    }
    const email = newEmail();
    emails.push(email);
    await cliOk(["users", "add", "--email", email], cliEnv, `${PASSWORD}\n`);
    expect(await verified(email)).toBe(false);
    expect((await signedIn(email)).claims()).toMatchObject({ email_verified: false });
    const queued = await idp.database.db.query("SELECT 1 FROM mail_outbox WHERE recipient = ANY($1)", [emails]);
    expect(queued.rowCount).toBe(0);
  });
});

describe("idp users send-verification", () => {
  it("replaces an older link with a newer one, in the language asked for; a link stops working after 24 hours", async () => {
    const email = newEmail();
    await idp.admin.addUser({ email, password: PASSWORD });
    await cliOk(["users", "send-verification", email], cliEnv);
    const first = verificationToken((await smtp.waitFor(email))[0]!);
    const sent = await cliOk(["users", "send-verification", email.toUpperCase(), "--locale", "de"], cliEnv);
    expect(sent.stdout).toContain(`verification mail queued for ${email}`);
    const mail = (await smtp.waitFor(email, 2))[1]!;
    expect(mail.subject).toBe("Bestätigen Sie Ihre E-Mail-Adresse für Acme");
    const second = verificationToken(mail);

    // The first link was replaced.
    expect((await tokenRow(first))!.revoked_at).toBeInstanceOf(Date);
    expect((await new Browser().request(linkOf(first))).status).toBe(400);
    const browser = new Browser();
    const page = await browser.request(linkOf(second), { headers: { "accept-language": "en" } });
    expect(page.status).toBe(200);
    expect(page.html).toContain('<html lang="de">'); // the language of the mail
    expect(page.html).toContain(translate("de", "verifyEmail.confirm.submit"));

    // A day later the page already open cannot confirm, and the link shows the one refusal.
    clockOffsetMs = DAY_MS + 1000;
    const late = await browser.submit(page, `/verify-email/${second}`);
    expect(late.status).toBe(400);
    expect(late.html).toContain('data-error="invalid_link"');
    expect((await new Browser().request(linkOf(second))).status).toBe(400);
    expect(await verified(email)).toBe(false);
    expect(await tokenRow(second)).toEqual({ consumed_at: null, revoked_at: null });
  });

  it("shows a link that cannot be used in the language the browser asks for", async () => {
    const page = await new Browser().request(linkOf("A".repeat(43)), { headers: { "accept-language": "ja" } });
    expect(page.status).toBe(400);
    expect(page.html).toContain('<html lang="ja">');
    expect(page.html).toContain(`<h1>${translate("ja", "verifyEmail.invalid.title")}</h1>`);
  });

  it("lets exactly one of several concurrent confirmations use the link; verifying again is harmless", async () => {
    const email = newEmail();
    const user = await idp.admin.addUser({ email, password: PASSWORD });
    await cliOk(["users", "send-verification", email], cliEnv);
    const token = verificationToken((await smtp.waitFor(email))[0]!);
    const opened = await Promise.all([0, 1, 2].map(async () => {
      const browser = new Browser();
      return { browser, page: await browser.request(linkOf(token)) };
    }));
    const results = await Promise.all(opened.map(({ browser, page }) => browser.submit(page, `/verify-email/${token}`)));
    expect(results.map((result) => result.status).sort()).toEqual([200, 400, 400]);
    const audited = await idp.database.db.query("SELECT 1 FROM audit_events WHERE user_id = $1 AND event = 'email.verified'", [user.id]);
    expect(audited.rowCount).toBe(1);

    // A link queued before the address was verified some other way still confirms, and changes nothing more.
    const other = newEmail();
    const otherUser = await idp.admin.addUser({ email: other, password: PASSWORD });
    await cliOk(["users", "send-verification", other], cliEnv);
    const otherToken = verificationToken((await smtp.waitFor(other))[0]!);
    await idp.admin.users.markEmailVerified(otherUser.id);
    const updatedAt = (await idp.admin.users.findById(otherUser.id))!.updatedAt;
    expect((await confirm(otherToken)).status).toBe(200);
    expect((await idp.admin.users.findById(otherUser.id))!.updatedAt).toEqual(updatedAt);
  });

  it("refuses a disabled person's link while they are disabled, and refuses to send them one", async () => {
    const email = newEmail();
    await idp.admin.addUser({ email, password: PASSWORD });
    await cliOk(["users", "send-verification", email], cliEnv);
    const token = verificationToken((await smtp.waitFor(email))[0]!);
    const browser = new Browser();
    const page = await browser.request(linkOf(token));
    await cliOk(["users", "disable", email], cliEnv);
    expect((await browser.submit(page, `/verify-email/${token}`)).status).toBe(400);
    expect((await new Browser().request(linkOf(token))).status).toBe(400);
    expect(await verified(email)).toBe(false);
    const refused = await runCli(["users", "send-verification", email], cliEnv);
    expect(lines(refused.stderr)).toEqual([`idp: ${email} is disabled: a link would not work (\`idp users enable\` first)`]);
    const unknown = await runCli(["users", "send-verification", "nobody@example.com"], cliEnv);
    expect(lines(unknown.stderr)).toEqual(["idp: no user with email nobody@example.com"]);
  });
});

describe("a password reset by mail link", () => {
  it("verifies the address too: the link came to it", async () => {
    const email = newEmail();
    const user = await idp.admin.addUser({ email, password: PASSWORD });
    const browser = new Browser();
    await browser.submit(await browser.request(`${idp.baseUrl}/reset`), "/reset", { email });
    const token = resetToken((await smtp.waitFor(email))[0]!);
    const choose = await browser.request(`${idp.baseUrl}/reset/${token}`);
    const NEW_PASSWORD = "violet tractor sandwich";
    expect((await browser.submit(choose, `/reset/${token}`, { password: NEW_PASSWORD, repeat: NEW_PASSWORD })).status).toBe(200);
    expect(await verified(email)).toBe(true);
    expect((await signedIn(email, NEW_PASSWORD)).claims()).toMatchObject({ email_verified: true });
    const changed = await idp.database.db.query<{ details: Record<string, unknown> }>(
      "SELECT details FROM audit_events WHERE user_id = $1 AND event = 'password.changed'",
      [user.id],
    );
    expect(changed.rows[0]!.details).toMatchObject({ method: "reset_link", email_verified_now: true });
  });
});

describe("development, without SMTP_URL, the CLI beside a running server", () => {
  let dev: TestIdp;
  beforeAll(async () => {
    // As `npm start` runs: the embedded database (the CLI connects through the server's socket).
    dev = await startTestIdp({ database: "embedded", env: { MAIL_POLL_INTERVAL_MS: "100" } });
  }, 60_000);
  afterAll(async () => dev?.close());

  it("queues the mail from the CLI; the server writes it to DATA_DIR/outbox/, and its link confirms", async () => {
    const email = "dev-verify@example.com";
    await cliOk(["users", "add", "--email", email, "--send-verification"], { DATA_DIR: dev.config.dataDir, KEYS_DIR: dev.config.keysDir }, `${PASSWORD}\n`);
    const dir = path.join(dev.config.dataDir, "outbox");
    const deadline = Date.now() + 10_000;
    let files: string[] = [];
    while (files.length === 0 && Date.now() < deadline) {
      files = (await readdir(dir).catch(() => [] as string[])).filter((file) => file.endsWith(".eml"));
      if (files.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(files).toHaveLength(1);
    const mail = await simpleParser(await readFile(path.join(dir, files[0]!)));
    const token = verificationToken(mail);
    const browser = new Browser();
    const page = await browser.request(`${dev.baseUrl}/verify-email/${token}`);
    expect((await browser.submit(page, `/verify-email/${token}`)).status).toBe(200);
    expect((await dev.admin.users.findByEmail(email))!.emailVerified).toBe(true);
  });
});
