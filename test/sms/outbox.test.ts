// SMS through the durable outbox, on real PostgreSQL, to a real HTTP server in Twilio's shape:
// queued sealed, sent by the worker in the reader's language, retried after 500 and 429 on a driven
// clock, given up at once when Twilio calls the number invalid, kept across a worker that stops or
// dies mid-send, and never claimed by a worker without a way to send SMS (nor mail by one without mail).
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../idp/db/database.ts";
import { createMailOutboxStore, type Channel } from "../../idp/store/mail-outbox.ts";
import { createOutboxWorker, type MailOutcome, type OutboxWorkerDeps } from "../../idp/mail/outbox-worker.ts";
import { createSealer } from "../../idp/mail/seal.ts";
import { smtpTransport } from "../../idp/mail/transports.ts";
import { twilioSender } from "../../idp/sms/senders.ts";
import type { SmsTemplates } from "../../idp/sms/templates.ts";
import { DEFAULT_BRAND_COLOR } from "../../idp/pages/brand.ts";
import { createPostgresTestDatabase, type TestDatabase } from "../support/database.ts";
import { FakeTwilio, INVALID_NUMBER } from "../support/sms.ts";
import { TestMailServer } from "../support/smtp.ts";

const cookieKey = randomBytes(32).toString("base64url");
const sealer = createSealer([cookieKey]);
const silent = { info() {}, warn() {}, error() {} };
const brand = { name: "Acme", color: DEFAULT_BRAND_COLOR };

let database: TestDatabase;
let twilio: FakeTwilio;
let smtp: TestMailServer;
beforeAll(async () => {
  database = await createPostgresTestDatabase();
  twilio = await FakeTwilio.start();
  smtp = await TestMailServer.start();
});
afterAll(async () => {
  await database?.destroy();
  await twilio?.stop();
  await smtp?.stop();
});

type Outcome = [MailOutcome, Channel];

function worker(options: { now: () => Date; db?: Database; outcomes?: Outcome[]; sms?: boolean; mail?: boolean; maxAttempts?: number }) {
  const deps: OutboxWorkerDeps = {
    outbox: createMailOutboxStore(options.db ?? database.db, options.now),
    sms:
      options.sms === false
        ? undefined
        : twilioSender(
            { smsTwilioAccountSid: twilio.accountSid, smsTwilioAuthToken: twilio.authToken, smsTwilioFrom: "+15017122661", smsTwilioApiUrl: twilio.url() },
            { timeoutMs: 1000 },
          ),
    transport: options.mail
      ? smtpTransport({ smtpUrl: smtp.url(), production: false, mailFrom: "no-reply@acme.example", brandName: "Acme", mailSendTimeoutSeconds: 2 })
      : undefined,
    sealer,
    context: (locale) => ({ locale, brand, origin: "https://auth.acme.example" }),
    now: options.now,
    log: silent,
    maxAttempts: options.maxAttempts ?? 8,
    sendTimeoutSeconds: 1,
    pollIntervalMs: 50,
    onOutcome: (outcome, channel) => options.outcomes?.push([outcome, channel]),
  };
  return createOutboxWorker(deps);
}

/** Queues an SMS as a flow does: the template's values sealed, the recipient in E.164. */
function enqueueSms(to: string, now: () => Date, options: { code?: string; locale?: string; sendBefore?: Date } = {}): Promise<string> {
  const values: SmsTemplates["sms_sign_in_code"] = { code: options.code ?? "123456" };
  return createMailOutboxStore(database.db, now).enqueue({
    channel: "sms",
    template: "sms_sign_in_code",
    recipient: to,
    locale: options.locale ?? "en",
    payload: sealer.seal(values),
    sendBefore: options.sendBefore ?? null,
  });
}

type Row = { channel: string; attempts: number; next_attempt_at: Date; sent_at: Date | null; failed_at: Date | null; last_error: string | null; payload: Buffer | null };
async function row(id: string): Promise<Row> {
  return (
    await database.db.query<Row>("SELECT channel, attempts, next_attempt_at, sent_at, failed_at, last_error, payload FROM mail_outbox WHERE id = $1", [id])
  ).rows[0]!;
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

describe("SMS in the outbox", () => {
  it("are queued sealed and sent by the worker in the reader's language, then their sealed values dropped", async () => {
    const now = () => new Date();
    const id = await enqueueSms("+4915100000001", now, { code: "271828", locale: "de" });
    const queued = await row(id);
    expect(queued.channel).toBe("sms");
    expect(queued.payload!.includes(Buffer.from("271828"))).toBe(false);
    const outcomes: Outcome[] = [];
    const instance = worker({ now, outcomes });
    instance.start();
    try {
      const sms = await twilio.waitFor("+4915100000001");
      expect(sms.body).toBe("271828 ist Ihr Anmeldecode für Acme. Er läuft in 10 Minuten ab.\n\n@auth.acme.example #271828");
      expect(sms.from).toBe("+15017122661");
      expect(await until(() => row(id), (current) => current.sent_at !== null)).toMatchObject({ attempts: 1, payload: null, last_error: null });
      expect(outcomes).toEqual([["sent", "sms"]]);
    } finally {
      await instance.stop();
    }
  });

  it("are retried after a 500 (30 s) and a 429 (60 s), then sent", async () => {
    let time = new Date("2031-01-01T00:00:00Z").getTime();
    const now = () => new Date(time);
    const id = await enqueueSms("+4915100000002", now);
    twilio.failNext(
      { status: 500, body: { code: 20500, message: "Internal Server Error", status: 500 } },
      { status: 429, body: { code: 20429, message: "Too Many Requests", status: 429 } },
    );
    const outcomes: Outcome[] = [];
    const instance = worker({ now, outcomes });
    instance.start();
    try {
      let current = await until(() => row(id), (candidate) => candidate.last_error !== null);
      expect(current).toMatchObject({ attempts: 1, sent_at: null, last_error: "Twilio answered 500 (error 20500): Internal Server Error" });
      expect(current.next_attempt_at.getTime() - time).toBe(30_000);
      time += 30_000;
      current = await until(() => row(id), (candidate) => candidate.attempts === 2 && candidate.next_attempt_at.getTime() > time + 40_000);
      expect(current.last_error).toBe("Twilio answered 429 (error 20429): Too Many Requests");
      expect(current.next_attempt_at.getTime() - time).toBe(60_000);
      expect(twilio.messages.some((message) => message.to === "+4915100000002")).toBe(false);
      time += 60_000;
      await twilio.waitFor("+4915100000002");
      expect(await until(() => row(id), (candidate) => candidate.sent_at !== null)).toMatchObject({ attempts: 3, last_error: null });
      expect(outcomes).toEqual([
        ["retried", "sms"],
        ["retried", "sms"],
        ["sent", "sms"],
      ]);
    } finally {
      await instance.stop();
    }
  });

  it("are given up at once when Twilio calls the number invalid, and when their code expired unsent", async () => {
    const now = () => new Date();
    const outcomes: Outcome[] = [];
    const invalid = await enqueueSms(INVALID_NUMBER, now);
    const expired = await enqueueSms("+4915100000003", now, { sendBefore: new Date(Date.now() - 1000) });
    const instance = worker({ now, outcomes });
    instance.start();
    try {
      expect(await until(() => row(invalid), (current) => current.failed_at !== null)).toMatchObject({
        attempts: 1,
        payload: null,
        last_error: "Twilio answered 400 (error 21211): The 'To' number +15005550001 is not a valid phone number.",
      });
      expect(await until(() => row(expired), (current) => current.failed_at !== null)).toMatchObject({ last_error: expect.stringMatching(/expired/) });
      expect(outcomes).toEqual([
        ["failed", "sms"],
        ["failed", "sms"],
      ]);
      expect(twilio.messages.some((message) => message.to === "+4915100000003")).toBe(false);
    } finally {
      await instance.stop();
    }
  });

  it("survive the worker: one queued while none runs, and one a dead worker had claimed, go out with the next", async () => {
    let time = new Date("2032-01-01T00:00:00Z").getTime();
    const now = () => new Date(time);
    const orphaned = await enqueueSms("+4915100000005", now);
    // An instance claimed it (its lease, as long as a worker's, runs) and died before sending.
    const claimed = await createMailOutboxStore(database.db, now).claimDue(10, 14, ["sms"]);
    expect(claimed.map((message) => message.id)).toEqual([orphaned]);
    const waiting = await enqueueSms("+4915100000004", now);
    const instance = worker({ now });
    instance.start();
    try {
      await twilio.waitFor("+4915100000004");
      expect(await until(() => row(waiting), (current) => current.sent_at !== null)).toMatchObject({ attempts: 1 });
      // The dead instance's lease still runs: nothing goes out for it until the lease ends.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(twilio.messages.filter((message) => message.to === "+4915100000005")).toEqual([]);
      time += 15_000;
      await twilio.waitFor("+4915100000005");
      expect(await until(() => row(orphaned), (current) => current.sent_at !== null)).toMatchObject({ attempts: 2 });
    } finally {
      await instance.stop();
    }

    // Stopped, a worker sends nothing; the next one sends what was queued meanwhile.
    const later = await enqueueSms("+4915100000006", now);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await row(later)).attempts).toBe(0);
    const next = worker({ now });
    next.start();
    try {
      await twilio.waitFor("+4915100000006");
      expect(twilio.messages.filter((message) => message.to === "+4915100000006")).toHaveLength(1);
    } finally {
      await next.stop();
    }
  });

  it("hold only E.164 numbers", async () => {
    await expect(enqueueSms("0151 12345678", () => new Date())).rejects.toThrow(/mail_outbox_sms_recipient_check/);
  });

  it("are left to a worker that can send them; a worker without mail leaves mail alone, and one with both sends both", async () => {
    let time = new Date("2033-01-01T00:00:00Z").getTime();
    const now = () => new Date(time);
    const sms = await enqueueSms("+4915100000007", now);
    const mail = await createMailOutboxStore(database.db, now).enqueue({
      template: "password_changed",
      recipient: "channels@example.com",
      locale: "en",
      payload: sealer.seal({ changedAt: new Date("2033-01-01T00:00:00Z").toISOString() }),
    });
    expect((await row(mail)).channel).toBe("email");

    const mailOnly = worker({ now, sms: false, mail: true });
    mailOnly.start();
    try {
      await smtp.waitFor("channels@example.com");
      await until(() => row(mail), (current) => current.sent_at !== null);
    } finally {
      await mailOnly.stop();
    }
    expect(await row(sms)).toMatchObject({ attempts: 0, sent_at: null });

    const smsOnly = worker({ now });
    smsOnly.start();
    try {
      await twilio.waitFor("+4915100000007");
    } finally {
      await smsOnly.stop();
    }

    const outcomes: Outcome[] = [];
    const both = worker({ now, mail: true, outcomes });
    const secondSms = await enqueueSms("+4915100000008", now);
    const secondMail = await createMailOutboxStore(database.db, now).enqueue({
      template: "password_changed",
      recipient: "both@example.com",
      locale: "en",
      payload: sealer.seal({ changedAt: new Date("2033-01-01T00:00:00Z").toISOString() }),
    });
    both.start();
    try {
      await twilio.waitFor("+4915100000008");
      await smtp.waitFor("both@example.com");
      await until(() => Promise.all([row(secondSms), row(secondMail)]), (rows) => rows.every((current) => current.sent_at !== null));
      expect(outcomes.sort()).toEqual([
        ["sent", "email"],
        ["sent", "sms"],
      ]);
    } finally {
      await both.stop();
    }
  });
});
