// SMS in the running IdP: with the SMS_TWILIO_* settings, an SMS queued in the outbox goes out
// through the Twilio API and /metrics counts it apart from mail; in development with no sender it
// lands in DATA_DIR/outbox/ as a .sms.txt file.
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadKeyMaterial } from "../../idp/keys/key-material.ts";
import { createSealer } from "../../idp/mail/seal.ts";
import { createMailOutboxStore } from "../../idp/store/mail-outbox.ts";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { FakeTwilio } from "../support/sms.ts";

async function queueSignInCode(idp: TestIdp, to: string, code: string): Promise<string> {
  const sealer = createSealer((await loadKeyMaterial(idp.config)).cookieKeys);
  return createMailOutboxStore(idp.database.db).enqueue({
    channel: "sms",
    template: "sms_sign_in_code",
    recipient: to,
    locale: "fr",
    payload: sealer.seal({ code }),
    sendBefore: new Date(Date.now() + 10 * 60_000),
  });
}

async function metric(idp: TestIdp, series: string): Promise<number> {
  const text = await (await fetch(`${idp.baseUrl}/metrics`)).text();
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${series} `));
  return Number(line?.split(" ")[1] ?? NaN);
}

async function eventually<T>(read: () => Promise<T>, check: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline) throw new Error(`never reached: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("an IdP with Twilio configured", () => {
  let twilio: FakeTwilio;
  let idp: TestIdp;
  beforeAll(async () => {
    twilio = await FakeTwilio.start();
    idp = await startTestIdp({
      env: {
        SMS_TWILIO_ACCOUNT_SID: twilio.accountSid,
        SMS_TWILIO_AUTH_TOKEN: twilio.authToken,
        SMS_TWILIO_FROM: "MG0123456789abcdef0123456789abcdef",
        SMS_TWILIO_API_URL: twilio.url(),
        MAIL_POLL_INTERVAL_MS: "50",
      },
    });
  });
  afterAll(async () => {
    await idp?.close();
    await twilio?.stop();
  });

  it("sends a queued SMS through the API and counts it under channel sms, not as mail", async () => {
    expect(await metric(idp, 'idp_messages_total{channel="sms",outcome="sent"}')).toBe(0);
    await queueSignInCode(idp, "+33612345678", "314159");
    const sms = await twilio.waitFor("+33612345678");
    const host = new URL(idp.issuer).host;
    expect(sms).toMatchObject({ messagingServiceSid: "MG0123456789abcdef0123456789abcdef", from: undefined });
    expect(sms.body).toBe(`314159 est votre code de connexion ${new URL(idp.issuer).hostname}. Il expire dans 10 minutes.\n\n@${host} #314159`);
    await eventually(() => metric(idp, 'idp_messages_total{channel="sms",outcome="sent"}'), (value) => value === 1);
    expect(await metric(idp, 'idp_messages_total{channel="email",outcome="sent"}')).toBe(0);
    expect(await metric(idp, 'idp_mails_total{outcome="sent"}')).toBe(0);
  });

  it("counts a retry under channel sms", async () => {
    twilio.failNext({ status: 503, body: { message: "Service Unavailable" } });
    await queueSignInCode(idp, "+33612345679", "271828");
    await eventually(() => metric(idp, 'idp_messages_total{channel="sms",outcome="retried"}'), (value) => value === 1);
    expect(await metric(idp, 'idp_mails_total{outcome="retried"}')).toBe(0);
  });
});

describe("an IdP in development without an SMS sender", () => {
  let dataDir: string;
  let idp: TestIdp;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), "idp-sms-dev-"));
    idp = await startTestIdp({ env: { DATA_DIR: dataDir, MAIL_POLL_INTERVAL_MS: "50" } });
  });
  afterAll(async () => {
    await idp?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("writes the SMS to DATA_DIR/outbox/ as a .sms.txt file", async () => {
    await queueSignInCode(idp, "+4915112345678", "161803");
    const outbox = path.join(dataDir, "outbox");
    const files = await eventually(
      () => readdir(outbox).catch(() => [] as string[]),
      (names) => names.some((name) => name.endsWith(".sms.txt")),
    );
    const text = await readFile(path.join(outbox, files.find((name) => name.endsWith(".sms.txt"))!), "utf8");
    expect(text).toMatch(/^To: \+4915112345678\n\n161803 est votre code de connexion .+\n\n@localhost:\d+ #161803\n$/);
  });
});
