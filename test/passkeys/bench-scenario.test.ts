// The bench's passkey_sign_in scenario (bench/scenarios.ts passkeySignIn) against a real IdP: a
// software authenticator (node:crypto) registered for a person signs in through the pages as the
// sign-in page's script would, to the token exchange, several times in a row with fresh browsers.
import { afterAll, beforeAll, expect, it } from "vitest";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { SoftwareAuthenticator } from "../support/software-authenticator.ts";
import { createPasskeys } from "../../idp/accounts/passkeys.ts";
import { storesOver } from "../../idp/store/stores.ts";
import { createHttpClient } from "../../bench/http.ts";
import { BENCH_CLIENTS } from "../../bench/fixtures.ts";
import * as scenario from "../../bench/scenarios.ts";

let idp: TestIdp;

beforeAll(async () => {
  idp = await startTestIdp({ env: { SIGN_IN_LIMIT_PER_IP: "0" } });
  await idp.admin.addClient({ ...BENCH_CLIENTS.web, public: true });
}, 60_000);
afterAll(async () => {
  await idp?.close();
});

it("signs in with a passkey from Node, through the pages, to the tokens", async () => {
  const passkeys = createPasskeys({
    db: idp.database.db,
    stores: (queryable) => storesOver(queryable, () => new Date()),
    settings: { rpId: idp.config.webauthnRpId, origin: idp.baseUrl, rpName: idp.config.brandName },
    now: () => new Date(),
  });
  const person = await idp.admin.addUser({ email: "bench-passkey@example.com", password: "violet tractor sandwich" });
  const authenticator = new SoftwareAuthenticator(idp.baseUrl);
  expect(await passkeys.register({ userId: person.id, response: authenticator.register(await passkeys.registrationOptions(person.id)), name: "Bench" })).toMatchObject({ ok: true });
  const http = createHttpClient(2);
  const target = { kind: "ours" as const, issuer: idp.issuer, serviceSecret: "" };
  for (let run = 0; run < 3; run++) await scenario.passkeySignIn(http, target, authenticator);
  http.close();
  const { rows } = await idp.database.db.query<{ count: number }>("SELECT count(*)::int AS count FROM audit_events WHERE user_id = $1 AND event = 'sign_in.succeeded'", [person.id]);
  expect(rows[0]!.count).toBe(3);
});
