// Without SMTP_URL: in development every mail is an .eml file in DATA_DIR/outbox/ and its links are
// in the log, so `npm start` alone (embedded database, no mail server) can reset a password; in
// production nothing that needs mail is offered. Also the per-address limit of the reset posts.
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { simpleParser } from "mailparser";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { Browser } from "../support/browser.ts";
import { captureLogs } from "../support/log-capture.ts";
import { resetToken } from "../support/smtp.ts";
import { discover, startAuthorization, REDIRECT_URI } from "../support/oidc-flow.ts";
import { loggerOptions } from "../../idp/logging.ts";

async function waitForFiles(dir: string, count: number, timeoutMs = 10_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const files = (await readdir(dir).catch(() => [] as string[])).filter((file) => file.endsWith(".eml")).sort();
    if (files.length >= count) return files.map((file) => path.join(dir, file));
    if (Date.now() > deadline) throw new Error(`expected ${count} .eml file(s) in ${dir}, found ${files.length}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("development, without SMTP_URL", () => {
  let idp: TestIdp;
  let dataDir: string;
  const logs = captureLogs();

  beforeAll(async () => {
    // As `npm start` runs: the embedded database, whose DATA_DIR also holds the outbox.
    idp = await startTestIdp({
      database: "embedded",
      env: { MAIL_POLL_INTERVAL_MS: "100", PASSWORD_RESET_LIMIT_PER_IP: "3" },
      logger: { ...(loggerOptions("info") as object), stream: logs.stream },
    });
    dataDir = idp.config.dataDir;
    await idp.admin.addUser({ email: "dev@example.com", password: "correct horse battery" });
  });
  afterAll(async () => idp?.close());

  it("writes each mail to DATA_DIR/outbox/ as an .eml file and logs its link", async () => {
    const browser = new Browser();
    const sent = await browser.submit(await browser.request(`${idp.baseUrl}/reset`), "/reset", { email: "dev@example.com" });
    expect(sent.status).toBe(200);
    const [file] = await waitForFiles(path.join(dataDir, "outbox"), 1);
    const mail = await simpleParser(await readFile(file!));
    expect(mail.to).toMatchObject({ value: [{ address: "dev@example.com" }] });
    expect(mail.from?.value[0]?.address).toBe("no-reply@localhost");
    const token = resetToken(mail);
    const link = `${idp.baseUrl}/reset/${token}`;
    expect(mail.html).toContain(link);
    const logged = logs.lines.map((line) => JSON.parse(line) as { msg: string; links?: string[]; file?: string }).find((line) => line.msg.startsWith("mail written"));
    expect(logged).toMatchObject({ links: [link], file: file });

    const choose = await browser.request(link);
    const done = await browser.submit(choose, `/reset/${token}`, { password: "violet tractor sandwich", repeat: "violet tractor sandwich" });
    expect(done.status).toBe(200);
    expect(done.html).toContain("Go back to the application and sign in with your new password.");
    await waitForFiles(path.join(dataDir, "outbox"), 2); // "your password was changed"
  });

  it("limits the reset posts per address (PASSWORD_RESET_LIMIT_PER_IP), whatever the email", async () => {
    const browser = new Browser();
    let page = await browser.request(`${idp.baseUrl}/reset`);
    // The test before posted twice from this address (the request and the new password).
    page = await browser.submit(page, "/reset", { email: "someone@example.com" });
    expect(page.status).toBe(200);
    page = await browser.submit(await browser.request(`${idp.baseUrl}/reset`), "/reset", { email: "someone-else@example.com" });
    expect(page.status).toBe(429);
    expect(page.html).toContain("Too many requests for a reset link. Try again in");
  });
});

describe("production, without SMTP_URL", () => {
  let idp: TestIdp;
  beforeAll(async () => {
    idp = await startTestIdp({ env: { NODE_ENV: "production", GENERATE_KEYS: "true" } });
    await idp.admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
  });
  afterAll(async () => idp?.close());

  it("offers no password reset: no Forgot password? link, and no /reset (nor /verify-email) pages", async () => {
    expect(idp.config.passwordReset).toBe(false);
    const browser = new Browser();
    const login = await browser.follow((await startAuthorization(await discover(idp.issuer, "web"))).url.toString());
    expect(login.html).toContain('name="password"');
    expect(login.html).not.toContain("Forgot password?");
    expect(login.html).not.toContain("/reset");
    expect((await browser.request(`${idp.baseUrl}/reset`)).status).toBe(404);
    expect((await browser.request(`${idp.baseUrl}/reset/${"A".repeat(43)}`)).status).toBe(404);
    expect((await browser.request(`${idp.baseUrl}/verify-email/${"A".repeat(43)}`)).status).toBe(404);
  });
});
