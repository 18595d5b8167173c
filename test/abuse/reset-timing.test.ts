// The second test that measures time, in the style of timing.test.ts and run with it after every
// other file: on a listening IdP with a real SMTP server, a request for a reset link takes the same
// time for a registered email (a link is stored, a mail queued, and sent meanwhile) as for an
// unknown one (within 10% over 200 alternating trials each). Each trial uses fresh emails, so
// no request meets the resend cooldown, which would make both sides do the same by another road.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { findForm } from "../support/browser.ts";
import { TestMailServer } from "../support/smtp.ts";
import { FormClient } from "./helpers.ts";
import { median, trimmedMean } from "./timing-stats.ts";

const TRIALS = 200;
const WARM_UP = 4;

let idp: TestIdp;
let smtp: TestMailServer;
beforeAll(async () => {
  smtp = await TestMailServer.start();
  idp = await startTestIdp({
    env: { SMTP_URL: smtp.url(), PASSWORD_RESET_LIMIT_PER_IP: "0", REQUEST_LIMIT_PER_IP: "100000", MAIL_POLL_INTERVAL_MS: "100" },
  });
  for (let i = 0; i < WARM_UP + TRIALS; i++) await idp.admin.users.create({ email: `known${i}@example.com`, passwordHash: null });
});
afterAll(async () => {
  await idp?.close();
  await smtp?.stop();
});

/** A browser on the request page, ready to post it once. */
async function requestForm(): Promise<(email: string) => Promise<{ status: number; ms: number }>> {
  const client = new FormClient(idp.baseUrl);
  const page = await client.request("/reset");
  const { hidden } = findForm(page.html, "/reset");
  return async (email) => {
    const reply = await client.request("/reset", { form: { ...hidden, email } });
    return { status: reply.status, ms: reply.ms };
  };
}

describe("reset request timing", () => {
  it("answers a registered and an unknown email in the same time", { timeout: 120_000 }, async () => {
    const times = { known: [] as number[], unknown: [] as number[] };
    for (let i = 0; i < WARM_UP + TRIALS; i++) {
      const forms = { known: await requestForm(), unknown: await requestForm() };
      const email = { known: `known${i}@example.com`, unknown: `unknown${i}@example.com` };
      // Sent at the same moment, alternating which goes first, so both meet the same load.
      const order = i % 2 ? (["known", "unknown"] as const) : (["unknown", "known"] as const);
      const replies = await Promise.all(order.map((which) => forms[which](email[which])));
      for (const [index, which] of order.entries()) {
        expect(replies[index]!.status).toBe(200);
        if (i >= WARM_UP) times[which].push(replies[index]!.ms);
      }
    }
    // The registered emails really got their mail (the path measured is the one that sends).
    await smtp.waitFor(`known${WARM_UP + TRIALS - 1}@example.com`);
    const known = trimmedMean(times.known);
    const unknown = trimmedMean(times.unknown);
    const difference = Math.abs(known - unknown) / Math.min(known, unknown);
    console.log(
      `reset request timing over ${TRIALS} trials each: registered ${known.toFixed(2)} ms, unknown ${unknown.toFixed(2)} ms ` +
        `(means without the fastest and slowest 10%; medians ${median(times.known).toFixed(2)} and ${median(times.unknown).toFixed(2)} ms), ` +
        `difference ${(difference * 100).toFixed(1)}%`,
    );
    expect(difference).toBeLessThan(0.1);
  });
});
