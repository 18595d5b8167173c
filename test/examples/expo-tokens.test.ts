// The Expo example's token logic (examples/expo-app/src/tokens.ts), without a React Native runtime:
// SecureStore is a Map and the token endpoint a function, as App.tsx plugs in the real ones.
import { readFileSync } from "node:fs";
import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import {
  APP_SCHEME,
  NATIVE_REDIRECT_URI,
  REFRESH_MARGIN_SECONDS,
  REFRESH_TOKEN_KEY,
  createTokenSession,
  needsRefresh,
  tokenExpiry,
  type TokenStorage,
  type Tokens,
} from "../../examples/expo-app/src/tokens.ts";
import { validateNativeRedirectUri } from "../../idp/accounts/operator.ts";
import { redirectAllowed } from "../../idp/oidc/native-redirects.ts";

const KEY = new TextEncoder().encode("a test key of at least thirty-two bytes");
const NOW = 1_900_000_000;

let serial = 0;
async function idToken(exp: number, sub = "user-1") {
  serial += 1;
  return await new SignJWT({ aud: "expo-app", jti: `t${serial}` }).setProtectedHeader({ alg: "HS256" }).setSubject(sub).setIssuedAt(exp - 300).setExpirationTime(exp).sign(KEY);
}

function memoryStorage(initial: Record<string, string> = {}): TokenStorage & { data: Map<string, string> } {
  const data = new Map(Object.entries(initial));
  return {
    data,
    get: async (key) => data.get(key) ?? null,
    set: async (key, value) => void data.set(key, value),
    delete: async (key) => void data.delete(key),
  };
}

/** A token endpoint that rotates the refresh token on every use, as the IdP does for a public client. */
function tokenEndpoint(first = "rt-1") {
  let current = first;
  let n = 0;
  const calls: string[] = [];
  return {
    calls,
    refresh: async (refreshToken: string): Promise<Tokens> => {
      calls.push(refreshToken);
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (refreshToken !== current) throw Object.assign(new Error("grant request is invalid"), { code: "invalid_grant" });
      n += 1;
      current = `rt-${n + 1}`;
      return { idToken: await idToken(NOW + 300), refreshToken: current };
    },
  };
}

describe("the Expo example's redirect URI", () => {
  it("is one the IdP accepts for a --native client, and app.json declares its scheme", () => {
    expect(validateNativeRedirectUri(NATIVE_REDIRECT_URI)).toBe("com.example.convexidp:/callback");
    expect(redirectAllowed([NATIVE_REDIRECT_URI], NATIVE_REDIRECT_URI, true)).toBe(true);
    const appJson = JSON.parse(readFileSync(new URL("../../examples/expo-app/app.json", import.meta.url), "utf8")) as { expo: { scheme: string } };
    expect(appJson.expo.scheme).toBe(APP_SCHEME);
  });

  it("differs from what makeRedirectUri builds from the scheme alone, which the IdP would refuse", () => {
    // Why App.tsx passes NATIVE_REDIRECT_URI as makeRedirectUri's `native` option.
    expect(redirectAllowed([NATIVE_REDIRECT_URI], `${APP_SCHEME}://callback`, true)).toBe(false);
  });
});

describe("token expiry", () => {
  it("reads exp from an ID token and nothing from something that is not a JWT", async () => {
    expect(tokenExpiry(await idToken(NOW + 300))).toBe(NOW + 300);
    expect(tokenExpiry("not-a-jwt")).toBeUndefined();
    expect(tokenExpiry("a.b@d.c")).toBeUndefined();
  });

  it("refreshes within the margin of exp, never for a token far from it", async () => {
    expect(needsRefresh(await idToken(NOW + 3600), NOW)).toBe(false);
    expect(needsRefresh(await idToken(NOW + REFRESH_MARGIN_SECONDS + 1), NOW)).toBe(false);
    expect(needsRefresh(await idToken(NOW + REFRESH_MARGIN_SECONDS), NOW)).toBe(true);
    expect(needsRefresh(await idToken(NOW - 1), NOW)).toBe(true);
    expect(needsRefresh(undefined, NOW)).toBe(true);
    expect(needsRefresh("not-a-jwt", NOW)).toBe(true);
  });

  it("stores the refresh token under a key expo-secure-store accepts", () => {
    expect(REFRESH_TOKEN_KEY).toMatch(/^[\w.-]+$/);
  });
});

describe("the token session", () => {
  it("starts signed out when nothing is stored, and Convex gets null", async () => {
    const endpoint = tokenEndpoint();
    const session = createTokenSession({ storage: memoryStorage(), refresh: endpoint.refresh, now: () => NOW });
    expect(session.getState()).toEqual({ isLoading: true, isAuthenticated: false });
    await session.restore();
    expect(session.getState()).toEqual({ isLoading: false, isAuthenticated: false });
    expect(await session.fetchAccessToken({ forceRefreshToken: false })).toBeNull();
    expect(endpoint.calls).toEqual([]);
  });

  it("keeps the refresh token after sign-in, hands out the ID token, and a new one when Convex forces a refresh", async () => {
    const storage = memoryStorage();
    const endpoint = tokenEndpoint("rt-1");
    const session = createTokenSession({ storage, refresh: endpoint.refresh, now: () => NOW });
    const first = await idToken(NOW + 600, "user-1");
    await session.signIn({ idToken: first, refreshToken: "rt-1" });
    expect(session.getState()).toEqual({ isLoading: false, isAuthenticated: true });
    expect(storage.data.get(REFRESH_TOKEN_KEY)).toBe("rt-1");

    expect(await session.fetchAccessToken({ forceRefreshToken: false })).toBe(first);
    expect(endpoint.calls).toEqual([]);

    const forced = await session.fetchAccessToken({ forceRefreshToken: true });
    expect(forced).not.toBe(first);
    expect(tokenExpiry(forced!)).toBe(NOW + 300);
    expect(endpoint.calls).toEqual(["rt-1"]);
    expect(storage.data.get(REFRESH_TOKEN_KEY)).toBe("rt-2");
  });

  it("refreshes an ID token near its exp without being forced", async () => {
    const endpoint = tokenEndpoint("rt-1");
    const session = createTokenSession({ storage: memoryStorage(), refresh: endpoint.refresh, now: () => NOW });
    const expiring = await idToken(NOW + 30);
    await session.signIn({ idToken: expiring, refreshToken: "rt-1" });
    const token = await session.fetchAccessToken({ forceRefreshToken: false });
    expect(token).not.toBe(expiring);
    expect(endpoint.calls).toEqual(["rt-1"]);
  });

  it("restores a session from the stored refresh token at start", async () => {
    const storage = memoryStorage({ [REFRESH_TOKEN_KEY]: "rt-1" });
    const endpoint = tokenEndpoint("rt-1");
    const session = createTokenSession({ storage, refresh: endpoint.refresh, now: () => NOW });
    await session.restore();
    expect(session.getState()).toEqual({ isLoading: false, isAuthenticated: true });
    expect(storage.data.get(REFRESH_TOKEN_KEY)).toBe("rt-2");
  });

  it("refreshes once when Convex and the app ask at the same time, so the rotated token is not reused", async () => {
    const storage = memoryStorage({ [REFRESH_TOKEN_KEY]: "rt-1" });
    const endpoint = tokenEndpoint("rt-1");
    const session = createTokenSession({ storage, refresh: endpoint.refresh, now: () => NOW });
    const [a, b, c] = await Promise.all([
      session.restore().then(() => "restored"),
      session.fetchAccessToken({ forceRefreshToken: true }),
      session.fetchAccessToken({ forceRefreshToken: false }),
    ]);
    expect(a).toBe("restored");
    expect(b).toBeTruthy();
    expect(c).toBe(b);
    expect(endpoint.calls).toEqual(["rt-1"]);
    expect(session.getState().isAuthenticated).toBe(true);
  });

  it("signs out and forgets the refresh token when the IdP rejects it", async () => {
    const storage = memoryStorage({ [REFRESH_TOKEN_KEY]: "revoked" });
    const endpoint = tokenEndpoint("rt-1");
    const session = createTokenSession({ storage, refresh: endpoint.refresh, now: () => NOW });
    await session.restore();
    expect(session.getState()).toEqual({ isLoading: false, isAuthenticated: false });
    expect(storage.data.has(REFRESH_TOKEN_KEY)).toBe(false);
    expect(await session.fetchAccessToken({ forceRefreshToken: true })).toBeNull();
    expect(endpoint.calls).toEqual(["revoked"]);
  });

  it("keeps the refresh token when the IdP cannot be reached, and uses it once it can", async () => {
    const storage = memoryStorage({ [REFRESH_TOKEN_KEY]: "rt-1" });
    const endpoint = tokenEndpoint("rt-1");
    let offline = true;
    const session = createTokenSession({
      storage,
      refresh: async (token) => {
        if (offline) throw new TypeError("Network request failed");
        return await endpoint.refresh(token);
      },
      now: () => NOW,
    });
    await session.restore();
    expect(session.getState()).toEqual({ isLoading: false, isAuthenticated: true });
    expect(await session.fetchAccessToken({ forceRefreshToken: false })).toBeNull();
    expect(storage.data.get(REFRESH_TOKEN_KEY)).toBe("rt-1");
    offline = false;
    expect(await session.fetchAccessToken({ forceRefreshToken: false })).toBeTruthy();
    expect(storage.data.get(REFRESH_TOKEN_KEY)).toBe("rt-2");
  });

  it("signs out locally: storage cleared, Convex gets null, listeners told", async () => {
    const storage = memoryStorage();
    const session = createTokenSession({ storage, refresh: tokenEndpoint().refresh, now: () => NOW });
    await session.signIn({ idToken: await idToken(NOW + 600), refreshToken: "rt-1" });
    let notified = 0;
    session.subscribe(() => (notified += 1));
    await session.signOut();
    expect(notified).toBe(1);
    expect(storage.data.size).toBe(0);
    expect(session.currentRefreshToken()).toBeUndefined();
    expect(await session.fetchAccessToken({ forceRefreshToken: false })).toBeNull();
  });

  it("refuses a token response without an ID token (the openid scope missing)", async () => {
    const session = createTokenSession({ storage: memoryStorage(), refresh: tokenEndpoint().refresh, now: () => NOW });
    await expect(session.signIn({ refreshToken: "rt-1" })).rejects.toThrow(/no ID token/);
    expect(session.getState().isAuthenticated).toBe(false);
  });
});
