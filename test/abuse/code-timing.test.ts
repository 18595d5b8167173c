// A test that measures time, in the style of reset-timing.test.ts and run with it after every other
// file: on a listening IdP with a real SMTP server, a request for a sign-in code by mail takes the
// same time for an email that has an account (a code is stored, a mail queued, and sent meanwhile)
// as for an unknown one (within 10% over 200 alternating trials each). Each trial uses fresh
// emails, so no request meets the resend cooldown, which would make both sides do the same.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type * as oidc from "openid-client";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { findForm } from "../support/browser.ts";
import { discover, startAuthorization, REDIRECT_URI } from "../support/oidc-flow.ts";
import { TestMailServer } from "../support/smtp.ts";
import { FormClient, type Reply } from "./helpers.ts";
import { alternatingTrials, compare } from "./timing-stats.ts";

const TRIALS = 200;
const WARM_UP = 4;

let idp: TestIdp;
let smtp: TestMailServer;
let web: oidc.Configuration;
beforeAll(async () => {
  smtp = await TestMailServer.start();
  idp = await startTestIdp({
    env: {
      SMTP_URL: smtp.url(),
      SIGN_IN_METHODS: "password,email_code",
      EMAIL_CODE_LIMIT_PER_IP: "0",
      EMAIL_CODE_LIMIT_PER_ACCOUNT: "0",
      REQUEST_LIMIT_PER_IP: "100000",
      MAIL_POLL_INTERVAL_MS: "100",
    },
  });
  await idp.admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
  web = await discover(idp.issuer, "web");
  for (let i = 0; i < WARM_UP + TRIALS; i++) await idp.admin.users.create({ email: `known${i}@example.com`, passwordHash: null });
});
afterAll(async () => {
  await idp?.close();
  await smtp?.stop();
});

/** A browser on the sign-in page of a fresh authorization request, ready to ask for a code once. */
async function codeRequest(): Promise<(email: string) => Promise<Reply>> {
  const client = new FormClient(idp.baseUrl);
  let reply = await client.request((await startAuthorization(web)).url.toString());
  for (let hops = 0; reply.location && hops < 5; hops++) reply = await client.request(reply.location);
  const { action, hidden } = findForm(reply.html, "/login");
  const uid = /\/interaction\/([A-Za-z0-9_-]+)\/login/.exec(action)![1]!;
  return (email) => client.request(`/interaction/${uid}/email-code`, { form: { ...hidden, email, password: "" } });
}

describe("sign-in code request timing", () => {
  it("answers an email with an account and an unknown one in the same time", { timeout: 180_000 }, async () => {
    const times = await alternatingTrials({
      trials: TRIALS,
      warmUp: WARM_UP,
      prepare: async (i) => {
        const forms = { known: await codeRequest(), unknown: await codeRequest() };
        return { known: () => forms.known(`known${i}@example.com`), unknown: () => forms.unknown(`unknown${i}@example.com`) };
      },
      check: (reply) => {
        expect(reply.status).toBe(200);
        expect(reply.html).toContain('autocomplete="one-time-code"');
      },
    });
    // The known emails really got their code (the path measured is the one that sends).
    const [mail] = await smtp.waitFor(`known${WARM_UP + TRIALS - 1}@example.com`);
    expect(mail!.text).toMatch(/^\s+\d{6}$/m);
    const { difference, summary } = compare("sign-in code request timing", { known: "with an account", unknown: "unknown" }, times);
    console.log(summary);
    expect(difference).toBeLessThan(0.1);
  });
});
