// The clients and users both servers get for the benchmark, so the two are asked the same things.
export const REDIRECT_URI = "http://localhost:5173/callback";

export const BENCH_CLIENTS = {
  /** The browser app: public, first-party, PKCE, rotating refresh tokens. */
  web: {
    id: "bench-web",
    name: "Bench Web",
    redirectUris: [REDIRECT_URI],
    postLogoutRedirectUris: ["http://localhost:5173/"],
    firstParty: true,
  },
  /** A service: confidential, client_credentials with HTTP Basic. */
  service: {
    id: "bench-service",
    name: "Bench Service",
    redirectUris: [] as string[],
    postLogoutRedirectUris: [] as string[],
    firstParty: false,
  },
};

export const benchUser = (index: number) => ({
  email: `bench-user-${index}@example.com`,
  password: `bench password number ${index} for the load test`,
  name: `Bench User ${index}`,
});

/** Who signs in by an emailed code on ours: a person with no password (many, see bench/code-users.ts). */
export const codeUserEmail = (index: number) => `bench-code-user-${index}@example.com`;

/** A new address for each sign-up (`run` tells the benchmark processes apart). */
export const signUpEmail = (run: string, index: number) => `bench-sign-up-${run}-${index}@example.com`;
export const SIGN_UP_PASSWORD = "bench sign-up password for the load test";

/** Who signs in with a password and an authenticator app on ours (many: each code works once, see bench/code-users.ts). */
export const totpUserEmail = (index: number) => `bench-totp-user-${index}@example.com`;
export const TOTP_USER_PASSWORD = "bench totp user password for the load test";
/** Every bench TOTP user's app key (base32): the codes are what any app would show now. */
export const TOTP_USER_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
