// The outbox worker on real PostgreSQL with a real SMTP server: two instances draining one outbox
// send each mail exactly once; a failing server gets retries after 30 s, then 60 s (a driven
// clock), and the mail is given up after MAIL_MAX_ATTEMPTS; a mail no key opens is given up.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase, createPool, type Database } from "../../idp/db/database.ts";
import { createMailOutboxStore } from "../../idp/store/mail-outbox.ts";
import { createOutboxWorker, type MailOutcome } from "../../idp/mail/outbox-worker.ts";
import { createSealer } from "../../idp/mail/seal.ts";
import { smtpTransport } from "../../idp/mail/transports.ts";
import { DEFAULT_BRAND_COLOR } from "../../idp/pages/brand.ts";
import { createPostgresTestDatabase, type TestDatabase } from "../support/database.ts";
import { freePort } from "../support/idp.ts";
import { TestMailServer } from "../support/smtp.ts";

const cookieKey = randomBytes(32).toString("base64url");
const silent = { info() {}, warn() {}, error() {} };
const brand = { name: "Acme", color: DEFAULT_BRAND_COLOR };

let database: TestDatabase;
let smtp: TestMailServer;
beforeAll(async () => {
  database = await createPostgresTestDatabase();
  smtp = await TestMailServer.start();
});
afterAll(async () => {
  await database?.destroy();
  await smtp?.stop();
});

function worker(db: Database, options: { smtpUrl: string; now: () => Date; maxAttempts?: number; keys?: string[]; outcomes?: MailOutcome[] }) {
  return createOutboxWorker({
    outbox: createMailOutboxStore(db, options.now),
    transport: smtpTransport({ smtpUrl: options.smtpUrl, production: false, mailFrom: "no-reply@acme.example", brandName: "Acme", mailSendTimeoutSeconds: 2 }),
    sealer: createSealer(options.keys ?? [cookieKey]),
    context: (locale) => ({ locale, brand, origin: "https://auth.acme.example" }),
    now: options.now,
    log: silent,
    maxAttempts: options.maxAttempts ?? 8,
    sendTimeoutSeconds: 2,
    pollIntervalMs: 50,
    onOutcome: (outcome) => options.outcomes?.push(outcome),
  });
}

async function enqueue(recipient: string, now: () => Date, keys = [cookieKey]): Promise<string> {
  const payload = createSealer(keys).seal({ changedAt: new Date("2025-01-31T12:00:00Z").toISOString() });
  return createMailOutboxStore(database.db, now).enqueue({ template: "password_changed", recipient, locale: "en", payload });
}

type Row = { attempts: number; next_attempt_at: Date; sent_at: Date | null; failed_at: Date | null; last_error: string | null };
async function row(id: string): Promise<Row> {
  return (await database.db.query<Row>("SELECT attempts, next_attempt_at, sent_at, failed_at, last_error FROM mail_outbox WHERE id = $1", [id])).rows[0]!;
}
async function until<T>(read: () => Promise<T>, check: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline) throw new Error(`never reached: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe("the outbox worker", () => {
  it("sends each mail exactly once when two instances drain one outbox", async () => {
    const now = () => new Date();
    const ids = await Promise.all(Array.from({ length: 30 }, (_, index) => enqueue(`twice${index}@example.com`, now)));
    // Two instances, each with its own pool, as two processes would have.
    const pools = [createDatabase(createPool(database.url!, 3)), createDatabase(createPool(database.url!, 3))];
    const workers = pools.map((db) => worker(db, { smtpUrl: smtp.url(), now }));
    workers.forEach((instance) => instance.start());
    try {
      await until(() => Promise.all(ids.map(row)), (rows) => rows.every((candidate) => candidate.sent_at !== null));
    } finally {
      await Promise.all(workers.map((instance) => instance.stop()));
      await Promise.all(pools.map((db) => db.close()));
    }
    const received = smtp.mails.flatMap((mail) => mail.envelopeTo).filter((to) => to.startsWith("twice"));
    expect(received).toHaveLength(30);
    expect(new Set(received).size).toBe(30);
    for (const id of ids) expect((await row(id)).attempts).toBe(1);
  });

  it("retries a failing server after 30 s, then 60 s, and gives up after MAIL_MAX_ATTEMPTS", async () => {
    let time = new Date("2030-01-01T00:00:00Z").getTime();
    const now = () => new Date(time);
    const outcomes: MailOutcome[] = [];
    const down = `smtp://127.0.0.1:${await freePort()}`; // nothing listens there
    const id = await enqueue("unlucky@example.com", now);
    const instance = worker(database.db, { smtpUrl: down, now, maxAttempts: 3, outcomes });
    instance.start();
    try {
      let current = await until(() => row(id), (candidate) => candidate.last_error !== null);
      expect(current.attempts).toBe(1);
      expect(current.next_attempt_at.getTime() - time).toBe(30_000);
      time += 30_000;
      current = await until(() => row(id), (candidate) => candidate.attempts === 2 && candidate.next_attempt_at.getTime() > time + 40_000);
      expect(current.next_attempt_at.getTime() - time).toBe(60_000);
      time += 60_000;
      current = await until(() => row(id), (candidate) => candidate.failed_at !== null);
      expect(current).toMatchObject({ attempts: 3, sent_at: null, last_error: expect.stringMatching(/ECONNREFUSED/) });
      expect(outcomes).toEqual(["retried", "retried", "failed"]);
    } finally {
      await instance.stop();
    }
  });

  it("gives up a mail that none of the cookie keys opens, and sends one sealed with an older key still listed", async () => {
    const now = () => new Date();
    const older = randomBytes(32).toString("base64url");
    const lost = await enqueue("lost@example.com", now, [randomBytes(32).toString("base64url")]);
    const rotated = await enqueue("rotated@example.com", now, [older]);
    const instance = worker(database.db, { smtpUrl: smtp.url(), now, keys: [cookieKey, older] });
    instance.start();
    try {
      expect(await until(() => row(lost), (candidate) => candidate.failed_at !== null)).toMatchObject({ last_error: expect.stringMatching(/cannot be opened/) });
      await smtp.waitFor("rotated@example.com");
      await until(() => row(rotated), (candidate) => candidate.sent_at !== null);
    } finally {
      await instance.stop();
    }
  });
});
