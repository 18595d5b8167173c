// The SMS settings as an operator meets them (a wrong one stops the start with one line naming it),
// and the limits on requests for SMS codes, counted in the real PostgreSQL counters on a driven clock.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRateLimits } from "../../idp/abuse/limits.ts";
import { loadConfig } from "../../idp/config.ts";
import { parseCountryList, phoneCountryAllowed } from "../../idp/sms/phone-numbers.ts";
import { createPostgresRateLimitStore } from "../../idp/store/rate-limits.ts";
import { configError } from "../support/config-error.ts";
import { createPostgresTestDatabase, type TestDatabase } from "../support/database.ts";

const TWILIO = { SMS_TWILIO_ACCOUNT_SID: "AC0123456789abcdef0123456789abcdef", SMS_TWILIO_AUTH_TOKEN: "token", SMS_TWILIO_FROM: "+15017122661" };
const WEBHOOK = { SMS_WEBHOOK_URL: "https://sms.example.com/send", SMS_WEBHOOK_SECRET: "s".repeat(32) };

describe("SMS settings", () => {
  it("default to no provider, any country, 10 codes per address and 5 per number", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      smsTwilioAccountSid: undefined,
      smsTwilioApiUrl: "https://api.twilio.com",
      smsWebhookUrl: undefined,
      smsAllowedCountries: undefined,
      smsCodeLimitPerIp: 10,
      smsCodeLimitPerNumber: 5,
    });
  });

  it("accept Twilio with a number, a Messaging Service or an alphanumeric sender, and a webhook", () => {
    for (const from of ["+15017122661", "MG0123456789abcdef0123456789abcdef", "Acme", "ACME Login"]) {
      expect(loadConfig({ ...TWILIO, SMS_TWILIO_FROM: from }).smsTwilioFrom).toBe(from);
    }
    expect(loadConfig({ ...WEBHOOK, SMS_WEBHOOK_URL: "http://localhost:9000/sms" }).smsWebhookUrl).toBe("http://localhost:9000/sms");
  });

  it("read SMS_ALLOWED_COUNTRIES as upper-case codes, and phoneCountryAllowed applies them", () => {
    const config = loadConfig({ SMS_ALLOWED_COUNTRIES: " de,at , CH" });
    expect(config.smsAllowedCountries).toBe("DE,AT,CH");
    const allowed = parseCountryList(config.smsAllowedCountries);
    expect(phoneCountryAllowed("+4915112345678", allowed)).toBe(true);
    expect(phoneCountryAllowed("+41791234567", allowed)).toBe(true);
    expect(phoneCountryAllowed("+12025550123", allowed)).toBe(false);
    expect(phoneCountryAllowed("+12025550123", parseCountryList(loadConfig({}).smsAllowedCountries))).toBe(true);
  });

  it.each<[string, Record<string, string>, string]>([
    ["Twilio without a token", { SMS_TWILIO_ACCOUNT_SID: TWILIO.SMS_TWILIO_ACCOUNT_SID, SMS_TWILIO_FROM: "+15017122661" }, "SMS_TWILIO_AUTH_TOKEN must be set too: Twilio needs SMS_TWILIO_ACCOUNT_SID, SMS_TWILIO_AUTH_TOKEN and SMS_TWILIO_FROM, or none of them"],
    ["a token alone", { SMS_TWILIO_AUTH_TOKEN: "token" }, "SMS_TWILIO_ACCOUNT_SID and SMS_TWILIO_FROM must be set too"],
    ["an account SID with a slash", { ...TWILIO, SMS_TWILIO_ACCOUNT_SID: "AC12/../x" }, "SMS_TWILIO_ACCOUNT_SID must be an account SID"],
    ["a From that is no number", { ...TWILIO, SMS_TWILIO_FROM: "0151 123" }, 'SMS_TWILIO_FROM must be a number in E.164 such as +15017122661, a Messaging Service SID (MG...), or an alphanumeric sender ID of 1-11 characters, got "0151 123"'],
    ["a sender ID too long", { ...TWILIO, SMS_TWILIO_FROM: "AcmeCorporation" }, "SMS_TWILIO_FROM must be"],
    ["a plain-http API", { ...TWILIO, SMS_TWILIO_API_URL: "http://api.twilio.example" }, "SMS_TWILIO_API_URL must be an https URL (http only for localhost)"],
    ["a webhook without a secret", { SMS_WEBHOOK_URL: "https://sms.example.com/send" }, "SMS_WEBHOOK_URL needs SMS_WEBHOOK_SECRET"],
    ["a secret without a webhook", { SMS_WEBHOOK_SECRET: "s".repeat(32) }, "SMS_WEBHOOK_SECRET is set but SMS_WEBHOOK_URL is not"],
    ["a short secret", { ...WEBHOOK, SMS_WEBHOOK_SECRET: "short" }, "SMS_WEBHOOK_SECRET must be at least 32 characters"],
    ["a plain-http webhook", { ...WEBHOOK, SMS_WEBHOOK_URL: "http://sms.example.com/send" }, "SMS_WEBHOOK_URL must be an https URL (http only for localhost)"],
    ["a webhook with credentials", { ...WEBHOOK, SMS_WEBHOOK_URL: "https://user:pw@sms.example.com/send" }, "SMS_WEBHOOK_URL must be an https URL"],
    ["both providers", { ...TWILIO, ...WEBHOOK }, "set SMS_WEBHOOK_URL or the SMS_TWILIO_* settings, not both"],
    ["an unknown country", { SMS_ALLOWED_COUNTRIES: "DE,XX" }, 'SMS_ALLOWED_COUNTRIES: "XX" is not an ISO 3166-1 alpha-2 country code with phone numbers'],
    ["a three-letter country", { SMS_ALLOWED_COUNTRIES: "DEU" }, 'SMS_ALLOWED_COUNTRIES: "DEU"'],
    ["a limit that is no number", { SMS_CODE_LIMIT_PER_NUMBER: "five" }, 'SMS_CODE_LIMIT_PER_NUMBER must be a whole number, got "five"'],
  ])("refuse %s in one line naming the setting", (_name, env, message) => {
    const error = configError(env);
    expect(error.message).toContain(message);
    expect(error.message).not.toContain("\n");
    // Never the secrets themselves.
    expect(error.message).not.toContain("s".repeat(32));
  });
});

describe("smsCodeRequest", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createPostgresTestDatabase();
  });
  afterAll(async () => database?.destroy());

  it("counts per address and per number, each with its own limit, and the window ends the wait", async () => {
    let time = new Date("2030-05-01T00:00:00Z").getTime();
    const now = () => new Date(time);
    const config = loadConfig({ SMS_CODE_LIMIT_PER_IP: "3", SMS_CODE_LIMIT_PER_NUMBER: "2", RATE_LIMIT_WINDOW: "60" });
    const limits = createRateLimits(createPostgresRateLimitStore(database.db, now), config, { now });
    try {
      // Per number, from many addresses.
      expect(await limits.smsCodeRequest("203.0.113.1", "+4915100000001")).toBeUndefined();
      expect(await limits.smsCodeRequest("203.0.113.2", "+4915100000001")).toBeUndefined();
      time += 10_000;
      expect(await limits.smsCodeRequest("203.0.113.3", "+4915100000001")).toBe(50);
      expect(await limits.smsCodeRequest("203.0.113.4", "+4915100000002")).toBeUndefined();

      // Per address, whatever the numbers: an IPv6 /64 is one address.
      expect(await limits.smsCodeRequest("2001:db8:1:2::1", "+4915100000010")).toBeUndefined();
      expect(await limits.smsCodeRequest("2001:db8:1:2::2", "+4915100000011")).toBeUndefined();
      expect(await limits.smsCodeRequest("2001:db8:1:2::3", "+4915100000012")).toBeUndefined();
      expect(await limits.smsCodeRequest("2001:db8:1:2::4", "+4915100000013")).toBeGreaterThan(0);

      time += 60_000;
      expect(await limits.smsCodeRequest("203.0.113.3", "+4915100000001")).toBeUndefined();
      expect(await limits.smsCodeRequest("2001:db8:1:2::5", "+4915100000014")).toBeUndefined();
    } finally {
      await limits.close();
    }
  });

  it("counts nothing when a limit is 0", async () => {
    const config = loadConfig({ SMS_CODE_LIMIT_PER_IP: "0", SMS_CODE_LIMIT_PER_NUMBER: "0" });
    const limits = createRateLimits(createPostgresRateLimitStore(database.db), config);
    try {
      for (let index = 0; index < 20; index += 1) expect(await limits.smsCodeRequest("198.51.100.9", "+4915100000099")).toBeUndefined();
    } finally {
      await limits.close();
    }
  });
});
