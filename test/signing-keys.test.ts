// With several keys in KEYS_DIR, the JWKS publishes all that are current and only the newest active one signs.
import { afterAll, beforeAll, expect, it } from "vitest";
import { decodeProtectedHeader } from "jose";
import { generateSigningKey } from "../idp/keys/signing-keys.ts";
import { startTestIdp, type TestIdp } from "./support/idp.ts";
import { Browser } from "./support/browser.ts";
import { discover, exchange, signIn, startAuthorization, REDIRECT_URI } from "./support/oidc-flow.ts";

let idp: TestIdp;
let activeKid: string;
let publishedKid: string;

beforeAll(async () => {
  idp = await startTestIdp({
    prepareKeys: async (dir) => {
      // The older key was replaced a minute ago: it stays published while tokens it signed may live.
      const older = await generateSigningKey(dir, { state: "active", now: new Date(Date.now() - 120_000) });
      activeKid = (await generateSigningKey(dir, { state: "active", now: new Date(Date.now() - 60_000) })).kid;
      publishedKid = (await generateSigningKey(dir, { state: "published" })).kid;
      expect(new Set([older.kid, activeKid, publishedKid]).size).toBe(3);
    },
  });
  await idp.admin.addUser({ email: "alice@example.com", password: "correct horse battery" });
  await idp.admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
});
afterAll(async () => idp?.close());

it("publishes every key and signs with the newest active one", async () => {
  const { keys } = await (await fetch(`${idp.issuer}/jwks`)).json();
  const kids = keys.map((key: { kid: string }) => key.kid);
  expect(kids).toHaveLength(3);
  expect(kids).toEqual(expect.arrayContaining([activeKid, publishedKid]));

  const config = await discover(idp.issuer, "web");
  const start = await startAuthorization(config);
  const callback = await signIn(new Browser(), start, { email: "alice@example.com", password: "correct horse battery" });
  const tokens = await exchange(config, start, callback.url);
  expect(decodeProtectedHeader(tokens.id_token!).kid).toBe(activeKid);
});
