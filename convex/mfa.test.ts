// @vitest-environment edge-runtime
import { convexTest } from "convex-test";
import { ConvexError } from "convex/values";
import { expect, test } from "vitest";
import { authenticationLevel, requireMfa } from "./auth.js";
import schema from "./schema.js";
import { serviceIdentity, userIdentity } from "./test.identities.js";
import { modules } from "./test.setup.js";

const acr = (level: string, host = "auth.example.com") => `urn:${host}:acr:${level}`;
const password = userIdentity("u_alice", { amr: ["pwd"], acr: acr("1fa") });
const withApp = userIdentity("u_alice", { amr: ["mfa", "otp", "pwd"], acr: acr("mfa") });
const passkey = userIdentity("u_alice", { amr: ["hwk", "mfa", "user"], acr: acr("phr") });

/** What requireMfa answers for an identity: the identity's subject, or the error's data. */
async function outcome(identity: ReturnType<typeof userIdentity> | null, options?: { level?: "mfa" | "phr" }) {
  const t = convexTest(schema, modules);
  const caller = identity ? t.withIdentity(identity) : t;
  try {
    return (await caller.query(async (ctx) => requireMfa(ctx, options))).subject;
  } catch (error) {
    if (error instanceof ConvexError) return error.data;
    throw error;
  }
}

test("a password alone is refused, with the acr_values to ask for", async () => {
  expect(await outcome(password)).toEqual({ code: "mfa_required", level: "mfa", acrValues: acr("mfa") });
});

test("a second factor passes, and a passkey passes either level", async () => {
  expect(await outcome(withApp)).toBe("u_alice");
  expect(await outcome(passkey)).toBe("u_alice");
  expect(await outcome(passkey, { level: "phr" })).toBe("u_alice");
  expect(await outcome(withApp, { level: "phr" })).toEqual({ code: "mfa_required", level: "phr", acrValues: acr("phr") });
});

test("an acr naming another host counts for nothing; amr's mfa still does", async () => {
  expect(authenticationLevel(userIdentity("u", { acr: acr("phr", "evil.example"), amr: ["pwd"] }))).toBe("1fa");
  expect(authenticationLevel(userIdentity("u", { acr: acr("1fa"), amr: ["mfa", "otp", "pwd"] }))).toBe("mfa");
  expect(authenticationLevel(userIdentity("u", {}))).toBe("1fa");
});

test("signed out and services are refused", async () => {
  await expect(outcome(null)).resolves.toBe("Not signed in");
  await expect(outcome(serviceIdentity())).resolves.toBe("Services cannot act as users");
});
