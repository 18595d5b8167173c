// A test that measures time, in the style of reset-timing.test.ts and run with it after every other
// file: on a listening IdP with SIGN_UP=open and a real SMTP server, a sign-up request takes the same
// time for an address that has an account (it gets the "you already have an account" mail) as for
// a free one (a code is stored and its mail queued), within 10% over 200 alternating trials each.
// Each trial uses fresh emails, so no request meets the resend cooldown.
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
      SIGN_UP: "open",
      // A machine sends the form at once; the limits would otherwise stop 400 requests from one address and domain.
      SIGN_UP_MIN_FORM_SECONDS: "0",
      SIGN_UP_LIMIT_PER_IP: "0",
      SIGN_UP_LIMIT_PER_DOMAIN: "0",
      REQUEST_LIMIT_PER_IP: "100000",
      MAIL_POLL_INTERVAL_MS: "100",
    },
  });
  await idp.admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
  web = await discover(idp.issuer, "web");
  for (let i = 0; i < WARM_UP + TRIALS; i++) await idp.admin.users.create({ email: `taken${i}@example.com`, passwordHash: null });
});
afterAll(async () => {
  await idp?.close();
  await smtp?.stop();
});

/** A browser on the sign-up page of a fresh authorization request, ready to post it once. */
async function signUpRequest(): Promise<(email: string) => Promise<Reply>> {
  const client = new FormClient(idp.baseUrl);
  let reply = await client.request((await startAuthorization(web)).url.toString());
  for (let hops = 0; reply.location && hops < 5; hops++) reply = await client.request(reply.location);
  const uid = /\/interaction\/([A-Za-z0-9_-]+)\/login/.exec(reply.html)![1]!;
  const page = await client.request(`/interaction/${uid}/sign-up`);
  const { hidden } = findForm(page.html, "/sign-up");
  return (email) => client.request(`/interaction/${uid}/sign-up`, { form: { ...hidden, email } });
}

describe("sign-up request timing", () => {
  it("answers an address with an account and a free one in the same time", { timeout: 180_000 }, async () => {
    const times = await alternatingTrials({
      trials: TRIALS,
      warmUp: WARM_UP,
      prepare: async (i) => {
        const forms = { known: await signUpRequest(), unknown: await signUpRequest() };
        return { known: () => forms.known(`taken${i}@example.com`), unknown: () => forms.unknown(`free${i}@example.com`) };
      },
      check: (reply) => {
        expect(reply.status).toBe(200);
        expect(reply.html).toContain('autocomplete="one-time-code"');
      },
    });
    // Both kinds of mail went out (the paths measured are the ones that send).
    const last = WARM_UP + TRIALS - 1;
    const [existing] = await smtp.waitFor(`taken${last}@example.com`);
    expect(existing!.text).not.toMatch(/^\s+\d{6}$/m);
    const [code] = await smtp.waitFor(`free${last}@example.com`);
    expect(code!.text).toMatch(/^\s+\d{6}$/m);
    const { difference, summary } = compare("sign-up request timing", { known: "with an account", unknown: "free" }, times);
    console.log(summary);
    expect(difference).toBeLessThan(0.1);
  });
});
