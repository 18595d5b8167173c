// @vitest-environment edge-runtime
import { describe, expect, test } from "vitest";
import { isService } from "./auth.js";
import {
  ISSUER,
  identityFromJwtPayload,
  serviceIdentity,
  serviceTokenPayload,
  userIdentity,
  userTokenPayload,
} from "./test.identities.js";

describe("identityFromJwtPayload", () => {
  test("a user's ID token: raw claim names, no aud/exp/iat/jti", () => {
    expect(identityFromJwtPayload(userTokenPayload("u_1"))).toStrictEqual({
      issuer: ISSUER,
      subject: "u_1",
      tokenIdentifier: `${ISSUER}|u_1`,
      auth_time: 1794999970,
      email: "alice@example.com",
      email_verified: true,
      name: "Alice Example",
      picture: "https://example.com/alice.png",
      updated_at: 1795000000,
    });
  });

  test("a service token", () => {
    expect(identityFromJwtPayload(serviceTokenPayload())).toStrictEqual({
      issuer: ISSUER,
      subject: "inference-worker",
      tokenIdentifier: `${ISSUER}|inference-worker`,
      client_id: "inference-worker",
      scope: "",
      token_use: "service",
    });
  });

  test("nested objects become dotted keys; arrays and nulls stay as they are", () => {
    const identity = identityFromJwtPayload(
      userTokenPayload("u_1", { org: { id: "o1", team: { name: "ml" } }, roles: ["a", "b"], nickname: null }),
    );
    expect(identity["org.id"]).toBe("o1");
    expect(identity["org.team.name"]).toBe("ml");
    expect(identity).not.toHaveProperty("org");
    expect(identity.roles).toStrictEqual(["a", "b"]);
    expect(identity.nickname).toBeNull();
  });

  test("only top-level registered claims are dropped", () => {
    const identity = identityFromJwtPayload(userTokenPayload("u_1", { nbf: 1, fva: [0, 0], session: { exp: 5 } }));
    expect(identity).not.toHaveProperty("nbf");
    expect(identity).not.toHaveProperty("fva");
    expect(identity["session.exp"]).toBe(5);
  });

  test("iss, sub and exp are required", () => {
    for (const claim of ["iss", "sub", "exp"]) {
      const { [claim]: _dropped, ...payload } = userTokenPayload();
      expect(() => identityFromJwtPayload(payload)).toThrow("A token needs iss, sub and exp");
    }
  });
});

test("isService: token_use tells services from people", () => {
  expect(isService(serviceIdentity())).toBe(true);
  expect(isService(userIdentity())).toBe(false);
  // Only the exact claim counts.
  expect(isService(userIdentity("u_1", { token_use: "Service" }))).toBe(false);
});
