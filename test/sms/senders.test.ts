// The SMS senders against real HTTP servers: Twilio's API shape (path, Basic credentials, form
// fields, its error answers, a server that never answers), a webhook receiver that checks the
// signature, and the development outbox's files.
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../idp/config.ts";
import { fileSmsSender, smsSender, SmsDeliveryError, twilioSender, webhookSender, type TwilioSettings } from "../../idp/sms/senders.ts";
import { signWebhook, verifyWebhookSignature } from "../../idp/sms/webhook-signature.ts";
import { freePort } from "../support/idp.ts";
import { FakeTwilio, WebhookReceiver } from "../support/sms.ts";

const SECRET = "0123456789abcdef0123456789abcdef-webhook";
let twilio: FakeTwilio;
let receiver: WebhookReceiver;
beforeAll(async () => {
  twilio = await FakeTwilio.start();
  receiver = await WebhookReceiver.start(SECRET);
});
afterAll(async () => {
  await twilio?.stop();
  await receiver?.stop();
});

const settings = (overrides: Partial<TwilioSettings> = {}): TwilioSettings => ({
  smsTwilioAccountSid: twilio.accountSid,
  smsTwilioAuthToken: twilio.authToken,
  smsTwilioFrom: "+15017122661",
  smsTwilioApiUrl: twilio.url(),
  ...overrides,
});

async function refusal(sending: Promise<void>): Promise<SmsDeliveryError> {
  const error = await sending.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(SmsDeliveryError);
  return error as SmsDeliveryError;
}

describe("the Twilio sender", () => {
  it("posts To, From and Body with the account's Basic credentials", async () => {
    await twilioSender(settings(), { timeoutMs: 5000 }).send({ to: "+4915112345678", body: "123456 is your code.\n\n@auth.example.com #123456" });
    expect(await twilio.waitFor("+4915112345678")).toEqual({
      to: "+4915112345678",
      body: "123456 is your code.\n\n@auth.example.com #123456",
      from: "+15017122661",
      messagingServiceSid: undefined,
    });
  });

  it("sends a Messaging Service SID as MessagingServiceSid, and a trailing slash of the API URL changes nothing", async () => {
    const service = "MG0123456789abcdef0123456789abcdef";
    await twilioSender(settings({ smsTwilioFrom: service, smsTwilioApiUrl: `${twilio.url()}/` }), { timeoutMs: 5000 }).send({ to: "+436641234567", body: "hi" });
    expect(await twilio.waitFor("+436641234567")).toMatchObject({ from: undefined, messagingServiceSid: service });
  });

  it("carries Twilio's code and message on a refusal, never the token; an invalid number is final, bad credentials are not", async () => {
    const wrongToken = "wrong-token-which-must-not-leak";
    const unauthorised = await refusal(twilioSender(settings({ smsTwilioAuthToken: wrongToken }), { timeoutMs: 5000 }).send({ to: "+4915112345670", body: "x" }));
    expect(unauthorised.message).toBe("Twilio answered 401 (error 20003): Authenticate");
    expect(unauthorised).toMatchObject({ status: 401, code: 20003, permanent: false });
    expect(JSON.stringify({ ...unauthorised, message: unauthorised.message, stack: unauthorised.stack })).not.toContain(wrongToken);
    expect(unauthorised.stack).not.toContain(twilio.authToken);

    const invalid = await refusal(twilioSender(settings(), { timeoutMs: 5000 }).send({ to: "+0000", body: "x" }));
    expect(invalid.message).toBe("Twilio answered 400 (error 21211): The 'To' number +0000 is not a valid phone number.");
    expect(invalid).toMatchObject({ status: 400, code: 21211, permanent: true });

    twilio.failNext({ status: 429, body: { code: 20429, message: "Too Many Requests", status: 429 } }, { status: 503, body: "<html>down</html>" });
    expect(await refusal(twilioSender(settings(), { timeoutMs: 5000 }).send({ to: "+4915112345671", body: "x" }))).toMatchObject({
      message: "Twilio answered 429 (error 20429): Too Many Requests",
      permanent: false,
    });
    expect(await refusal(twilioSender(settings(), { timeoutMs: 5000 }).send({ to: "+4915112345671", body: "x" }))).toMatchObject({
      message: "Twilio answered 503",
      permanent: false,
    });
    expect(twilio.messages.some((message) => message.to === "+4915112345671")).toBe(false);
  });

  it("gives up on a server that does not answer within the time limit", async () => {
    twilio.failNext("hang");
    const error = await refusal(twilioSender(settings(), { timeoutMs: 300 }).send({ to: "+4915112345672", body: "x" }));
    expect(error.message).toBe("no answer from the Twilio API within 300 ms");
  });

  it("says why it could not reach the API", async () => {
    const down = `http://127.0.0.1:${await freePort()}`;
    const error = await refusal(twilioSender(settings({ smsTwilioApiUrl: down }), { timeoutMs: 5000 }).send({ to: "+4915112345673", body: "x" }));
    expect(error.message).toBe("could not reach the Twilio API: ECONNREFUSED");
  });
});

describe("the webhook sender", () => {
  it("posts JSON {to, body, id} that the receiver verifies with the shared secret", async () => {
    const sender = webhookSender({ smsWebhookUrl: receiver.url(), smsWebhookSecret: SECRET }, { timeoutMs: 5000 });
    await sender.send({ to: "+4915112345674", body: "654321 ist Ihr Code", id: "42" });
    expect(await receiver.waitFor("+4915112345674")).toEqual({ to: "+4915112345674", body: "654321 ist Ihr Code", id: "42" });
  });

  it("fails when the receiver refuses the signature (another secret), and on a 5xx", async () => {
    const refusedBefore = receiver.refused;
    const wrong = webhookSender({ smsWebhookUrl: receiver.url(), smsWebhookSecret: "another secret of at least 32 characters" }, { timeoutMs: 5000 });
    expect(await refusal(wrong.send({ to: "+4915112345675", body: "x" }))).toMatchObject({ message: "the SMS webhook answered 401", status: 401, permanent: false });
    expect(receiver.refused).toBe(refusedBefore + 1);

    receiver.failNext({ status: 502 });
    const right = webhookSender({ smsWebhookUrl: receiver.url(), smsWebhookSecret: SECRET }, { timeoutMs: 5000 });
    expect(await refusal(right.send({ to: "+4915112345675", body: "x" }))).toMatchObject({ message: "the SMS webhook answered 502" });
    expect(receiver.messages.some((message) => message.to === "+4915112345675")).toBe(false);
  });

  it("signs with the time it is told, which the receiver then refuses as too old", async () => {
    const stale = webhookSender({ smsWebhookUrl: receiver.url(), smsWebhookSecret: SECRET }, { timeoutMs: 5000, now: () => new Date(Date.now() - 10 * 60_000) });
    expect(await refusal(stale.send({ to: "+4915112345676", body: "x" }))).toMatchObject({ status: 401 });
  });
});

describe("the webhook signature", () => {
  const body = JSON.stringify({ to: "+4915112345678", body: "123456", id: "7" });
  const header = signWebhook(SECRET, body, 1_700_000_000);

  it("is t=<unix>,v1=<hex HMAC-SHA256 of t.body>", () => {
    expect(header).toMatch(/^t=1700000000,v1=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature(SECRET, header, body, 1_700_000_000)).toBe(true);
    expect(verifyWebhookSignature(SECRET, header, body, 1_700_000_000 + 300)).toBe(true);
  });

  it("fails for another body, secret or time, a stale or future signature, and malformed headers", () => {
    expect(verifyWebhookSignature(SECRET, header, body.replace("123456", "000000"), 1_700_000_000)).toBe(false);
    expect(verifyWebhookSignature(`${SECRET}x`, header, body, 1_700_000_000)).toBe(false);
    expect(verifyWebhookSignature(SECRET, header.replace("t=1700000000", "t=1700000001"), body, 1_700_000_000)).toBe(false);
    expect(verifyWebhookSignature(SECRET, header, body, 1_700_000_000 + 301)).toBe(false);
    expect(verifyWebhookSignature(SECRET, header, body, 1_700_000_000 - 301)).toBe(false);
    for (const bad of [undefined, "", "v1=abc", "t=1700000000", `t=1700000000,t=1700000000,${header.split(",")[1]}`, header.replace(/v1=[0-9a-f]{4}/, "v1=zzzz")]) {
      expect(verifyWebhookSignature(SECRET, bad, body, 1_700_000_000), String(bad)).toBe(false);
    }
  });

  it("accepts any one of several v1 values (a sender between two secrets)", () => {
    const other = signWebhook("an older secret", body, 1_700_000_000).split(",")[1];
    expect(verifyWebhookSignature(SECRET, `${header},${other}`, body, 1_700_000_000)).toBe(true);
  });
});

describe("the development outbox and the choice of sender", () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), "idp-sms-"));
  });
  afterAll(async () => rm(dataDir, { recursive: true, force: true }));

  it("writes each SMS to DATA_DIR/outbox/*.sms.txt (mode 0600) and logs it", async () => {
    const logged: unknown[] = [];
    await fileSmsSender({ dataDir }, { info: (...args: unknown[]) => void logged.push(args) }).send({ to: "+4915112345678", body: "123456 is your code." });
    const files = (await readdir(path.join(dataDir, "outbox"))).filter((file) => file.endsWith(".sms.txt"));
    expect(files).toHaveLength(1);
    const file = path.join(dataDir, "outbox", files[0]!);
    expect(await readFile(file, "utf8")).toBe("To: +4915112345678\n\n123456 is your code.\n");
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(logged).toEqual([[{ file, to: "+4915112345678", body: "123456 is your code." }, expect.stringContaining("development outbox")]]);
  });

  it("uses Twilio or the webhook when configured, files in development, nothing in production", () => {
    const log = { info() {} };
    const production = { NODE_ENV: "production", DATABASE_URL: "postgres://db/idp", ISSUER: "https://auth.example.com/oidc" };
    expect(smsSender(loadConfig({ DATA_DIR: dataDir }), log)?.kind).toBe("file");
    expect(smsSender(loadConfig(production), log)).toBeUndefined();
    const twilioEnv = { SMS_TWILIO_ACCOUNT_SID: "AC1", SMS_TWILIO_AUTH_TOKEN: "token", SMS_TWILIO_FROM: "+15017122661" };
    expect(smsSender(loadConfig({ ...production, ...twilioEnv }), log)?.kind).toBe("twilio");
    expect(smsSender(loadConfig({ ...production, SMS_WEBHOOK_URL: "https://sms.example.com/send", SMS_WEBHOOK_SECRET: SECRET }), log)?.kind).toBe("webhook");
  });
});
