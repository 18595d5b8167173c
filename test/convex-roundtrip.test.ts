// A real Convex round trip: deploy convex/ to a self-hosted backend, then call its functions with
// our tokens. Runs when CONVEX_SELF_HOSTED_URL and CONVEX_SELF_HOSTED_ADMIN_KEY are set (the compose
// `tests` service); elsewhere vitest reports it as skipped, never as passed.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConvexHttpClient } from "convex/browser";
import { makeFunctionReference } from "convex/server";
import * as oidc from "openid-client";
import { startTestIdp, type TestIdp } from "./support/idp.ts";
import { Browser } from "./support/browser.ts";
import { discover, exchange, signIn, startAuthorization, REDIRECT_URI } from "./support/oidc-flow.ts";
import { convexEnvironment } from "../idp/cli/convex-config.ts";

const convexUrl = process.env.CONVEX_SELF_HOSTED_URL;
const adminKey = process.env.CONVEX_SELF_HOSTED_ADMIN_KEY;
const root = fileURLToPath(new URL("..", import.meta.url));
const run = promisify(execFile);

const users = {
  store: makeFunctionReference<"mutation">("users:store"),
  current: makeFunctionReference<"query">("users:current"),
};
const tasks = { pending: makeFunctionReference<"query">("tasks:pending") };

describe.skipIf(!convexUrl || !adminKey)("a self-hosted Convex backend", () => {
  let idp: TestIdp;
  let workerSecret: string;

  async function convexCli(...args: string[]) {
    await run("npx", ["convex", ...args], { cwd: root, env: process.env, timeout: 240_000 });
  }

  beforeAll(async () => {
    // The backend must reach this IdP's JWKS: in compose, by the tests service's name.
    idp = await startTestIdp({ publicHost: process.env.ROUNDTRIP_IDP_HOST ?? "localhost" });
    await idp.admin.addUser({ email: "alice@example.com", password: "correct horse battery", name: "Alice", emailVerified: true });
    await idp.admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
    workerSecret = (await idp.admin.addClient({ id: "inference-worker", service: true, public: false, firstParty: false, redirectUris: [] })).secret!;
    const environment = convexEnvironment({
      issuer: idp.issuer,
      jwksUrl: `${idp.issuer}/jwks`,
      clientId: "web",
      serviceAudience: idp.config.serviceTokenAudience,
    });
    for (const [name, value] of Object.entries(environment)) await convexCli("env", "set", name, value);
    await convexCli("deploy", "--yes");
  }, 300_000);
  afterAll(async () => idp?.close());

  it("sees the signed-in user through ctx.auth.getUserIdentity()", async () => {
    const config = await discover(idp.issuer, "web");
    const start = await startAuthorization(config);
    const callback = await signIn(new Browser(), start, { email: "alice@example.com", password: "correct horse battery" });
    const tokens = await exchange(config, start, callback.url);

    const convex = new ConvexHttpClient(convexUrl!);
    expect(await convex.query(users.current, {})).toBeNull();
    convex.setAuth(tokens.id_token!);
    await convex.mutation(users.store, {});
    expect(await convex.query(users.current, {})).toMatchObject({
      email: "alice@example.com",
      emailVerified: true,
      name: "Alice",
      tokenIdentifier: `${idp.issuer}|${tokens.claims()!.sub}`,
    });
  });

  it("lets a service call service functions with a token of its own, and nothing else", async () => {
    const worker = await discover(idp.issuer, "inference-worker", workerSecret);
    const { access_token } = await oidc.clientCredentialsGrant(worker);
    const convex = new ConvexHttpClient(convexUrl!);
    convex.setAuth(access_token);
    expect(Array.isArray(await convex.query(tasks.pending, {}))).toBe(true);
    await expect(convex.mutation(users.store, {})).rejects.toThrow(/Services cannot act as users/);
  });
});
