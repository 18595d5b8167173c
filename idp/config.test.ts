// loadConfig: defaults, parsing of explicit values, and the ConfigError messages operators see.
import path from "node:path";
import { describe, expect, it } from "vitest";
import { configError } from "../test/support/config-error.ts";
import { loadConfig, mountPath } from "./config.ts";

const DB = "postgres://idp:secret@db.internal:5432/idp";

describe("loadConfig defaults", () => {
  it("uses development defaults for an empty environment", () => {
    const config = loadConfig({});
    expect(config.production).toBe(false);
    expect(config.port).toBe(3000);
    expect(config.host).toBe("127.0.0.1");
    expect(config.issuer).toBe("http://localhost:3000/oidc");
    expect(config.trustProxy).toBe(false);
    expect(config.databaseUrl).toBeUndefined();
    expect(config.databasePoolMax).toBe(10);
    expect(config.databaseStatementTimeoutMs).toBe(5000);
    expect(config.redisCommandTimeoutMs).toBe(2000);
    expect(config.jwksMaxAgeSeconds).toBe(300);
    expect(config.argon2MemoryKib).toBe(19456);
    expect(config.argon2Iterations).toBe(2);
    expect(config.argon2Parallelism).toBe(1);
    expect(config.generateKeys).toBe(true);
    expect(config.logLevel).toBe("info");
    expect(config.payloadCleanupIntervalSeconds).toBe(600);
  });

  it("resolves the data and keys directories to absolute paths", () => {
    const config = loadConfig({});
    expect(config.dataDir).toBe(path.resolve("data"));
    expect(config.keysDir).toBe(path.resolve("keys"));
    expect(loadConfig({ KEYS_DIR: "some/keys" }).keysDir).toBe(path.resolve("some/keys"));
  });

  it("derives the default issuer from PORT", () => {
    const config = loadConfig({ PORT: "4123" });
    expect(config.port).toBe(4123);
    expect(config.issuer).toBe("http://localhost:4123/oidc");
    expect(mountPath(config)).toBe("/oidc");
  });

  // `PORT=` in a .env or compose file must mean "unset", not "empty".
  it("treats an empty variable as unset and uses its default", () => {
    const defaults = loadConfig({});
    for (const name of ["PORT", "ISSUER", "HOST", "JWKS_MAX_AGE", "LOG_LEVEL", "GENERATE_KEYS", "DATA_DIR"]) {
      expect(() => loadConfig({ [name]: "" }), name).not.toThrow();
      expect(loadConfig({ [name]: "" }), name).toEqual(defaults);
    }
  });

  it("treats an empty DATABASE_URL as unset", () => {
    expect(loadConfig({ DATABASE_URL: "" }).databaseUrl).toBeUndefined();
  });

  it("generates keys by default in development only", () => {
    expect(loadConfig({ NODE_ENV: "development" }).generateKeys).toBe(true);
    const production = loadConfig({ NODE_ENV: "production", DATABASE_URL: DB, ISSUER: "https://auth.example.com/oidc" });
    expect(production.production).toBe(true);
    expect(production.generateKeys).toBe(false);
  });

  it("lets GENERATE_KEYS override the production default", () => {
    const config = loadConfig({
      NODE_ENV: "production",
      DATABASE_URL: DB,
      ISSUER: "https://auth.example.com/oidc",
      GENERATE_KEYS: "true",
    });
    expect(config.generateKeys).toBe(true);
    expect(loadConfig({ GENERATE_KEYS: "no" }).generateKeys).toBe(false);
  });
});

describe("loadConfig explicit values", () => {
  it("parses integers, booleans and strings", () => {
    const config = loadConfig({
      PORT: "8080",
      HOST: "0.0.0.0",
      ISSUER: "https://auth.example.com/oidc",
      TRUST_PROXY: "true",
      ALLOWED_HOSTS: "auth.example.com,idp:3000",
      DATABASE_URL: DB,
      DATABASE_POOL_MAX: "4",
      DATABASE_STATEMENT_TIMEOUT_MS: "0",
      DATA_DIR: "/var/lib/idp",
      KEYS_DIR: "/etc/idp/keys",
      GENERATE_KEYS: "0",
      JWKS_MAX_AGE: "60",
      KEY_ROTATION_MARGIN: "30",
      KEYS_RELOAD_INTERVAL: "5",
      ID_TOKEN_TTL: "600",
      ACCESS_TOKEN_TTL: "900",
      REFRESH_TOKEN_TTL: "86400",
      SERVICE_TOKEN_AUDIENCE: "workers",
      SERVICE_TOKEN_TTL: "120",
      REFRESH_TOKEN_REUSE_GRACE: "5",
      AUTHORIZATION_CODE_TTL: "30",
      SESSION_TTL: "7200",
      INTERACTION_TTL: "300",
      GRANT_TTL: "3600",
      ARGON2_MEMORY_KIB: "65536",
      ARGON2_ITERATIONS: "3",
      ARGON2_PARALLELISM: "4",
      CLEANUP_INTERVAL: "60",
      CLIENT_CACHE_TTL: "0",
      CONFIDENTIAL_CLIENTS_REQUIRE_PKCE: "false",
      AUDIT_RETENTION_DAYS: "400",
      REDIS_URL: "redis://cache.internal:6379",
      REDIS_COMMAND_TIMEOUT_MS: "750",
      RATE_LIMIT_WINDOW: "30",
      REQUEST_LIMIT_PER_IP: "100",
      SIGN_IN_LIMIT_PER_IP: "7",
      SIGN_IN_LIMIT_PER_ACCOUNT: "0",
      TOKEN_LIMIT_PER_IP: "8",
      TOKEN_LIMIT_PER_CLIENT: "9",
      LOCKOUT_THRESHOLD: "3",
      LOCKOUT_FAILURE_WINDOW: "600",
      LOCKOUT_DURATION: "60",
      LOCKOUT_MAX_DURATION: "120",
      SIGN_IN_DELAY_MAX_MS: "500",
      LOG_LEVEL: "debug",
      METRICS_TOKEN: "scrape",
      BRAND_NAME: "Acme",
      BRAND_COLOR: "#E4572E",
      BRAND_LOGO_URL: "https://acme.example/logo.svg",
      DEFAULT_LOCALE: "de",
      SMTP_URL: "smtps://idp:secret@mail.example.com",
      MAIL_FROM: "Acme <no-reply@acme.example>",
      PASSWORD_RESET: "false",
      MAIL_MAX_ATTEMPTS: "3",
      MAIL_SEND_TIMEOUT: "5",
      MAIL_POLL_INTERVAL_MS: "500",
      PASSWORD_RESET_LIMIT_PER_IP: "4",
      PASSWORD_RESET_LIMIT_PER_ACCOUNT: "2",
      SIGN_IN_METHODS: "email_code,sms_code",
      EMAIL_CODE_LIMIT_PER_IP: "7",
      EMAIL_CODE_LIMIT_PER_ACCOUNT: "2",
      SIGN_UP: "open",
      SIGN_UP_EMAIL_DOMAINS: "acme.example",
      SIGN_UP_MIN_FORM_SECONDS: "3",
      SIGN_UP_MAX_FORM_SECONDS: "900",
      SIGN_UP_PROOF_OF_WORK: "true",
      SIGN_UP_LIMIT_PER_IP: "6",
      SIGN_UP_LIMIT_PER_DOMAIN: "0",
      SIGN_UP_BLOCKED_DOMAINS: "spam.example,junk.example",
      SMS_TWILIO_ACCOUNT_SID: "AC0123456789abcdef0123456789abcdef",
      SMS_TWILIO_AUTH_TOKEN: "twilio-token",
      SMS_TWILIO_FROM: "MG0123456789abcdef0123456789abcdef",
      SMS_TWILIO_API_URL: "https://twilio.proxy.example",
      SMS_ALLOWED_COUNTRIES: "de, at,ch",
      SMS_CODE_LIMIT_PER_IP: "6",
      SMS_CODE_LIMIT_PER_NUMBER: "3",
      WEBHOOK_TIMEOUT: "4",
      WEBHOOK_MAX_BACKOFF: "60",
      WEBHOOK_MAX_AGE: "3600",
      WEBHOOK_POLL_INTERVAL_MS: "250",
    });
    expect(config).toEqual({
      production: false,
      port: 8080,
      host: "0.0.0.0",
      issuer: "https://auth.example.com/oidc",
      trustProxy: true,
      allowedHosts: "auth.example.com,idp:3000",
      databaseUrl: DB,
      databasePoolMax: 4,
      databasePreparedStatements: true,
      databaseStatementTimeoutMs: 0,
      dataDir: "/var/lib/idp",
      keysDir: "/etc/idp/keys",
      generateKeys: false,
      jwksMaxAgeSeconds: 60,
      keyRotationMarginSeconds: 30,
      keysReloadIntervalSeconds: 5,
      idTokenTtlSeconds: 600,
      accessTokenTtlSeconds: 900,
      refreshTokenTtlSeconds: 86400,
      serviceTokenAudience: "workers",
      serviceTokenTtlSeconds: 120,
      refreshTokenReuseGraceSeconds: 5,
      authorizationCodeTtlSeconds: 30,
      sessionTtlSeconds: 7200,
      interactionTtlSeconds: 300,
      grantTtlSeconds: 3600,
      argon2MemoryKib: 65536,
      argon2Iterations: 3,
      argon2Parallelism: 4,
      payloadCleanupIntervalSeconds: 60,
      clientCacheTtlSeconds: 0,
      confidentialClientsRequirePkce: false,
      auditRetentionDays: 400,
      redisUrl: "redis://cache.internal:6379",
      redisCommandTimeoutMs: 750,
      rateLimitWindowSeconds: 30,
      rateLimitSyncIntervalMs: 1000,
      requestLimitPerIp: 100,
      signInLimitPerIp: 7,
      signInLimitPerAccount: 0,
      tokenLimitPerIp: 8,
      tokenLimitPerClient: 9,
      lockoutThreshold: 3,
      lockoutFailureWindowSeconds: 600,
      lockoutDurationSeconds: 60,
      lockoutMaxDurationSeconds: 120,
      signInDelayMaxMs: 500,
      logLevel: "debug",
      metricsToken: "scrape",
      brandName: "Acme",
      brandColor: "#e4572e",
      brandLogoUrl: "https://acme.example/logo.svg",
      brandLogoFile: undefined,
      defaultLocale: "de",
      smtpUrl: "smtps://idp:secret@mail.example.com",
      mailFrom: "Acme <no-reply@acme.example>",
      passwordReset: false,
      mailMaxAttempts: 3,
      mailSendTimeoutSeconds: 5,
      mailPollIntervalMs: 500,
      passwordResetLimitPerIp: 4,
      passwordResetLimitPerAccount: 2,
      signInMethods: "email_code,sms_code",
      emailCodeLimitPerIp: 7,
      emailCodeLimitPerAccount: 2,
      signUp: "open",
      signUpEmailDomains: "acme.example",
      signUpMinFormSeconds: 3,
      signUpMaxFormSeconds: 900,
      signUpProofOfWork: true,
      signUpLimitPerIp: 6,
      signUpLimitPerDomain: 0,
      signUpBlockedDomains: "spam.example,junk.example",
      smsTwilioAccountSid: "AC0123456789abcdef0123456789abcdef",
      smsTwilioAuthToken: "twilio-token",
      smsTwilioFrom: "MG0123456789abcdef0123456789abcdef",
      smsTwilioApiUrl: "https://twilio.proxy.example",
      smsWebhookUrl: undefined,
      smsWebhookSecret: undefined,
      smsAllowedCountries: "DE,AT,CH",
      smsCodeLimitPerIp: 6,
      smsCodeLimitPerNumber: 3,
      webhookTimeoutSeconds: 4,
      webhookMaxBackoffSeconds: 60,
      webhookMaxAgeSeconds: 3600,
      webhookPollIntervalMs: 250,
      deviceCodeTtlSeconds: 600,
      deviceCodeLimitPerIp: 20,
      mfa: "optional",
      webauthnRpId: "auth.example.com", // the ISSUER's host name by default
    });
  });

  it("takes MFA=optional or required, nothing else", () => {
    expect(loadConfig({ MFA: "required" }).mfa).toBe("required");
    expect(() => loadConfig({ MFA: "always" })).toThrow(/MFA must be optional or required/);
  });

  it("refuses webhook settings that would never deliver", () => {
    expect(() => loadConfig({ WEBHOOK_TIMEOUT: "0" })).toThrow("WEBHOOK_TIMEOUT must be at least 1");
    expect(() => loadConfig({ WEBHOOK_MAX_BACKOFF: "0" })).toThrow("WEBHOOK_MAX_BACKOFF must be at least 1");
    expect(() => loadConfig({ WEBHOOK_MAX_AGE: "0" })).toThrow("WEBHOOK_MAX_AGE must be at least 1");
    expect(() => loadConfig({ WEBHOOK_POLL_INTERVAL_MS: "5" })).toThrow("WEBHOOK_POLL_INTERVAL_MS must be at least 10");
  });

  it("accepts the documented spellings of booleans, whatever their case", () => {
    for (const value of ["true", "1", "yes", "TRUE", " Yes "]) expect(loadConfig({ TRUST_PROXY: value }).trustProxy).toBe(true);
    for (const value of ["false", "0", "no", "False"]) expect(loadConfig({ TRUST_PROXY: value }).trustProxy).toBe(false);
  });

  it("keeps an explicit issuer and mounts the routes at its path", () => {
    const config = loadConfig({ ISSUER: "https://example.com/auth/oidc", PORT: "9000" });
    expect(config.issuer).toBe("https://example.com/auth/oidc");
    expect(mountPath(config)).toBe("/auth/oidc");
  });

  it("allows production with an http issuer on localhost", () => {
    expect(loadConfig({ NODE_ENV: "production", DATABASE_URL: DB }).issuer).toBe("http://localhost:3000/oidc");
    expect(loadConfig({ NODE_ENV: "production", DATABASE_URL: DB, ISSUER: "http://127.0.0.1:3000/oidc" }).production).toBe(true);
  });

  it("defaults ALLOWED_HOSTS to the issuer's host, with its port", () => {
    expect(loadConfig({}).allowedHosts).toBe("localhost:3000");
    expect(loadConfig({ PORT: "4123" }).allowedHosts).toBe("localhost:4123");
    expect(loadConfig({ ISSUER: "https://auth.example.com/oidc" }).allowedHosts).toBe("auth.example.com");
    expect(loadConfig({ ALLOWED_HOSTS: "idp:3000, *" }).allowedHosts).toBe("idp:3000, *");
  });

  it("applies overrides instead of the environment", () => {
    expect(loadConfig({ PORT: "not a number" }, { port: 5000 }).port).toBe(5000);
  });
});

describe("loadConfig errors", () => {
  it("rejects a PORT that is not a whole number", () => {
    for (const port of ["abc", "3000.5", "-1", "80x"]) {
      const error = configError({ PORT: port });
      expect(error.message).toContain("PORT");
      expect(error.message).toContain("whole number");
      expect(error.message).toContain(`"${port}"`);
    }
  });

  it("rejects a PORT above 65535 when ISSUER is explicit", () => {
    expect(configError({ PORT: "70000", ISSUER: "https://auth.example.com/oidc" }).message).toBe("PORT must be at most 65535");
  });

  it("rejects a PORT above 65535 with a message about PORT when ISSUER follows it", () => {
    expect(configError({ PORT: "70000" }).message).toMatch(/PORT must be at most 65535/);
  });

  it("rejects a boolean that is neither true nor false", () => {
    const error = configError({ TRUST_PROXY: "maybe" });
    expect(error.message).toBe('TRUST_PROXY must be true or false, got "maybe"');
    expect(configError({ GENERATE_KEYS: "on" }).message).toContain("GENERATE_KEYS");
  });

  it("rejects an ISSUER with a trailing slash", () => {
    const error = configError({ ISSUER: "https://auth.example.com/oidc/" });
    expect(error.message).toContain("ISSUER");
    expect(error.message).toContain("must not end with '/'");
  });

  it("rejects an ISSUER without a path", () => {
    for (const issuer of ["https://auth.example.com", "https://auth.example.com/"]) {
      const error = configError({ ISSUER: issuer });
      expect(error.message).toContain("ISSUER needs a path");
    }
  });

  it("rejects an ISSUER that is not a URL", () => {
    const error = configError({ ISSUER: "auth.example.com/oidc" });
    expect(error.message).toBe('ISSUER must be an absolute URL, got "auth.example.com/oidc"');
  });

  it("rejects an ISSUER that is not http(s) or has a query or fragment", () => {
    expect(configError({ ISSUER: "ftp://auth.example.com/oidc" }).message).toContain("http(s)");
    expect(configError({ ISSUER: "https://auth.example.com/oidc?x=1" }).message).toContain("query or fragment");
    expect(configError({ ISSUER: "https://auth.example.com/oidc#x" }).message).toContain("query or fragment");
  });

  it("requires DATABASE_URL in production", () => {
    const error = configError({ NODE_ENV: "production", ISSUER: "https://auth.example.com/oidc" });
    expect(error.message).toContain("NODE_ENV=production");
    expect(error.message).toContain("DATABASE_URL");
  });

  it("requires an https issuer in production unless it is local", () => {
    const error = configError({ NODE_ENV: "production", DATABASE_URL: DB, ISSUER: "http://auth.example.com/oidc" });
    expect(error.message).toContain("https ISSUER");
  });

  it("rejects argon2 and pool settings that cannot work", () => {
    expect(configError({ ARGON2_ITERATIONS: "0" }).message).toContain("argon2");
    expect(configError({ ARGON2_MEMORY_KIB: "4" }).message).toContain("ARGON2_MEMORY_KIB");
    expect(configError({ DATABASE_POOL_MAX: "0" }).message).toContain("DATABASE_POOL_MAX");
  });

  it("rejects an ALLOWED_HOSTS entry that is not a host, or a wildcard pattern", () => {
    expect(configError({ ALLOWED_HOSTS: "idp:3000, https://auth.example.com" }).message).toBe(
      'ALLOWED_HOSTS has "https://auth.example.com", which is not a host name or IP address with an optional :port (1-65535)',
    );
    expect(configError({ ALLOWED_HOSTS: "*.example.com" }).message).toContain("lone *");
  });

  it("rejects an audit retention that would never run", () => {
    expect(configError({ AUDIT_RETENTION_DAYS: "90", CLEANUP_INTERVAL: "0" }).message).toContain("CLEANUP_INTERVAL");
    expect(loadConfig({ AUDIT_RETENTION_DAYS: "90" }).auditRetentionDays).toBe(90);
  });
});

describe("mail and password reset settings", () => {
  const production = { NODE_ENV: "production", DATABASE_URL: DB, ISSUER: "https://auth.example.com/oidc" };

  it("offers password reset in development (mail goes to files), and in production only with SMTP_URL", () => {
    expect(loadConfig({})).toMatchObject({ passwordReset: true, smtpUrl: undefined, mailFrom: "no-reply@localhost" });
    expect(loadConfig(production)).toMatchObject({ passwordReset: false, mailFrom: "no-reply@auth.example.com" });
    expect(loadConfig({ ...production, SMTP_URL: "smtps://u:p@mail.example.com" }).passwordReset).toBe(true);
    expect(loadConfig({ PASSWORD_RESET: "false" }).passwordReset).toBe(false);
  });

  it("refuses to start in production when password reset is asked for without SMTP_URL", () => {
    const error = configError({ ...production, PASSWORD_RESET: "true" });
    expect(error.message).toContain("PASSWORD_RESET=true needs SMTP_URL");
  });

  it("takes smtp:// and smtps:// URLs only, and MAIL_FROM as an address with or without a name", () => {
    expect(loadConfig({ SMTP_URL: "smtp://mail.example.com:587?requireTLS=true" }).smtpUrl).toBe("smtp://mail.example.com:587?requireTLS=true");
    for (const url of ["http://mail.example.com", "mail.example.com:587", "smtp://"]) expect(configError({ SMTP_URL: url }).message).toContain("SMTP_URL");
    expect(loadConfig({ MAIL_FROM: "Acme <no-reply@acme.example>" }).mailFrom).toBe("Acme <no-reply@acme.example>");
    for (const from of ["nobody", "a@b\r\nBcc: c@d", "<>"]) expect(configError({ MAIL_FROM: from }).message).toContain("MAIL_FROM");
  });

  it("rejects mail settings that cannot work", () => {
    expect(configError({ MAIL_MAX_ATTEMPTS: "0" }).message).toContain("MAIL_MAX_ATTEMPTS");
    expect(configError({ MAIL_SEND_TIMEOUT: "0" }).message).toContain("MAIL_SEND_TIMEOUT");
    expect(configError({ MAIL_POLL_INTERVAL_MS: "10" }).message).toContain("MAIL_POLL_INTERVAL_MS");
  });
});

describe("sign-in methods and sign-up settings", () => {
  const production = { NODE_ENV: "production", DATABASE_URL: "postgres://db/idp", ISSUER: "https://auth.example.com/oidc" };

  it("offers a code by mail wherever mail can be sent, and sign-up to nobody, by default", () => {
    expect(loadConfig({}).signInMethods).toBe("password,email_code");
    expect(loadConfig(production).signInMethods).toBe("password");
    expect(loadConfig({ ...production, SMTP_URL: "smtp://mail.example.com:587" }).signInMethods).toBe("password,email_code");
    expect(loadConfig({}).signUp).toBe("off");
  });

  it("refuses unknown methods, and methods or sign-up that need a sender production does not have", () => {
    expect(configError({ SIGN_IN_METHODS: "password,magic" }).message).toContain("SIGN_IN_METHODS must list");
    expect(configError({ SIGN_IN_METHODS: " , " }).message).toContain("SIGN_IN_METHODS must list");
    expect(configError({ ...production, SIGN_IN_METHODS: "email_code" }).message).toContain("SIGN_IN_METHODS=email_code needs SMTP_URL");
    expect(configError({ ...production, SIGN_IN_METHODS: "password,sms_code" }).message).toContain("SIGN_IN_METHODS=sms_code needs an SMS sender");
    expect(loadConfig({ SIGN_IN_METHODS: "sms_code" }).signInMethods).toBe("sms_code");
    expect(configError({ SIGN_UP: "maybe" }).message).toContain("SIGN_UP must be off, open or invite");
    expect(configError({ ...production, SIGN_UP: "open" }).message).toContain("SIGN_UP=open needs SMTP_URL");
    expect(configError({ SIGN_UP_EMAIL_DOMAINS: "example.com,not a domain" }).message).toContain("SIGN_UP_EMAIL_DOMAINS");
  });
});
