// Mail when the SMTP server is away or slow: the reset answer is the same page, given at once; the
// mail waits in the outbox, is retried with backoff (the clock is driven, not slept), and goes out
// when the server is back, also when the IdP restarted meanwhile (a new app on the same database).
// A link that expires before its mail could go out is given up; /metrics counts all of it.
import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FastifyInstance } from "fastify";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { Browser, findForm } from "../support/browser.ts";
import { FormClient } from "../abuse/helpers.ts";
import { resetToken, startHangingServer, TestMailServer } from "../support/smtp.ts";
import { buildApp } from "../../idp/app.ts";
import { loadKeyMaterial } from "../../idp/keys/key-material.ts";

const NEW_PASSWORD = "violet tractor sandwich";
let clockOffsetMs = 0;
const now = () => new Date(Date.now() + clockOffsetMs);
const mailEnv = { MAIL_POLL_INTERVAL_MS: "100", PASSWORD_RESET_LIMIT_PER_IP: "0" };

/** The answer to a request for a link, without what changes per request. */
async function requestReset(baseUrl: string, email: string) {
  const client = new FormClient(baseUrl);
  const form = await client.request("/reset");
  const reply = await client.request("/reset", { form: { ...findForm(form.html, "/reset").hidden, email } });
  const headers = Object.fromEntries([...reply.headers].filter(([name]) => !["date", "x-request-id"].includes(name)));
  return { status: reply.status, headers, html: reply.html.replace(/name="_csrf" value="[^"]*"/g, "") };
}

type OutboxRow = { attempts: number; last_error: string | null; sent_at: Date | null; failed_at: Date | null; payload: Buffer | null };

/** Polls until the recipient's outbox row satisfies the check (the worker runs on its own). */
async function outboxRow(idp: TestIdp, recipient: string, until: (row: OutboxRow) => boolean, timeoutMs = 15_000): Promise<OutboxRow> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await idp.database.db.query<OutboxRow>(
      "SELECT attempts, last_error, sent_at, failed_at, payload FROM mail_outbox WHERE recipient = $1 ORDER BY id DESC LIMIT 1",
      [recipient],
    );
    if (rows[0] && until(rows[0])) return rows[0];
    if (Date.now() > deadline) throw new Error(`outbox row of ${recipient} never matched: ${JSON.stringify(rows[0])}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function metric(baseUrl: string, outcome: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  return Number(new RegExp(`^idp_mails_total\\{outcome="${outcome}"\\} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
}

describe("an SMTP server that is down", () => {
  let smtp: TestMailServer;
  let idp: TestIdp;
  let app: FastifyInstance;
  let users = 0;
  const newUser = async () => (await idp.admin.addUser({ email: `outage${++users}@example.com`, password: "correct horse battery" })).email;

  beforeAll(async () => {
    smtp = await TestMailServer.start();
    idp = await startTestIdp({ now, env: { SMTP_URL: smtp.url(), ...mailEnv } });
    app = idp.app;
  });
  afterAll(async () => {
    await app?.close();
    await idp?.database.destroy();
    await rm(idp.config.keysDir, { recursive: true, force: true });
    await smtp?.stop();
  });

  it("changes nothing in the answer, and the mail goes out once the server is back", async () => {
    const first = await newUser();
    const up = await requestReset(idp.baseUrl, first);
    await smtp.waitFor(first);

    await smtp.stop();
    const second = await newUser();
    const down = await requestReset(idp.baseUrl, second);
    expect(down).toEqual(up);
    const failed = await outboxRow(idp, second, (row) => row.attempts >= 1 && row.last_error !== null);
    expect(failed.sent_at).toBeNull();
    expect(failed.last_error).toMatch(/ECONNREFUSED/);
    expect(await metric(idp.baseUrl, "retried")).toBeGreaterThanOrEqual(1);

    await smtp.listen();
    clockOffsetMs += 31_000; // past the first retry's wait
    const [mail] = await smtp.waitFor(second);
    const sent = await outboxRow(idp, second, (row) => row.sent_at !== null);
    expect(sent.attempts).toBe(2);
    expect(await metric(idp.baseUrl, "sent")).toBeGreaterThanOrEqual(2);

    // The late link works.
    const browser = new Browser();
    const token = resetToken(mail!);
    const choose = await browser.request(`${idp.baseUrl}/reset/${token}`);
    expect((await browser.submit(choose, `/reset/${token}`, { password: NEW_PASSWORD, repeat: NEW_PASSWORD })).status).toBe(200);
  });

  it("gives up a mail whose link expired before the server came back, and counts it as failed", async () => {
    await smtp.stop();
    const person = await newUser();
    await requestReset(idp.baseUrl, person);
    await outboxRow(idp, person, (row) => row.attempts >= 1);
    const failedBefore = await metric(idp.baseUrl, "failed");
    clockOffsetMs += 16 * 60_000;
    const given = await outboxRow(idp, person, (row) => row.failed_at !== null);
    expect(given.last_error).toMatch(/expired/);
    expect(given.payload).toBeNull(); // the sealed link is dropped
    expect(await metric(idp.baseUrl, "failed")).toBe(failedBefore + 1);
    await smtp.listen();
  });

  it("loses no mail across a restart of the IdP: the next instance on the same database sends it", async () => {
    await smtp.stop();
    const person = await newUser();
    await requestReset(idp.baseUrl, person);
    await outboxRow(idp, person, (row) => row.attempts >= 1);
    await app.close();

    await smtp.listen();
    app = await buildApp({ config: idp.config, db: idp.database.db, keys: await loadKeyMaterial(idp.config), now, logger: false });
    await app.listen({ port: idp.config.port, host: "127.0.0.1" });
    clockOffsetMs += 31_000;
    const [mail] = await smtp.waitFor(person);
    // Sealed by the first instance, opened by the second (same cookie keys); the link works there.
    const browser = new Browser();
    const token = resetToken(mail!);
    const choose = await browser.request(`${idp.baseUrl}/reset/${token}`);
    expect((await browser.submit(choose, `/reset/${token}`, { password: NEW_PASSWORD, repeat: NEW_PASSWORD })).status).toBe(200);
  });
});

describe("an SMTP server that hangs", () => {
  let idp: TestIdp;
  let hanging: Awaited<ReturnType<typeof startHangingServer>>;

  beforeAll(async () => {
    hanging = await startHangingServer();
    idp = await startTestIdp({ env: { SMTP_URL: `smtp://127.0.0.1:${hanging.port}`, MAIL_SEND_TIMEOUT: "1", ...mailEnv } });
    await idp.admin.addUser({ email: "patient@example.com", password: "correct horse battery" });
  });
  afterAll(async () => {
    await hanging?.close();
    await idp?.close();
  });

  it("never holds the answer: it comes while the server still has not greeted, and the attempt ends at MAIL_SEND_TIMEOUT", async () => {
    const answer = await requestReset(idp.baseUrl, "patient@example.com");
    expect(answer.status).toBe(200);
    // A send inside the request would only have answered after giving up on the silent server.
    expect(hanging.sockets.filter((socket) => socket.closed)).toEqual([]);
    const row = await outboxRow(idp, "patient@example.com", () => hanging.sockets.length > 0, 5_000);
    expect(row.sent_at).toBeNull();
    expect(hanging.sockets.some((socket) => !socket.closed)).toBe(true);
    const retried = await outboxRow(idp, "patient@example.com", (candidate) => candidate.last_error !== null, 10_000);
    expect(retried.last_error).toMatch(/greeting|timeout/i);
  });
});
