// Every setting of the IdP in one place: its environment variable, type, default and meaning.
// This is the only module that reads process.env; everything else receives a Config.
import path from "node:path";
import { DEFAULT_BRAND_COLOR, parseHexColor } from "./pages/brand.ts";
import { supportedLocales } from "./pages/i18n.ts";
import { LOOPBACK_NAMES, parseAllowedHosts } from "./http/authority.ts";
import { parseBlockedDomains } from "./abuse/disposable-domains.ts";
import { parseCountryList } from "./sms/phone-numbers.ts";

export type Config = {
  production: boolean;
  port: number;
  host: string;
  issuer: string;
  trustProxy: boolean;
  allowedHosts: string;
  databaseUrl: string | undefined;
  databasePoolMax: number;
  databasePreparedStatements: boolean;
  databaseStatementTimeoutMs: number;
  dataDir: string;
  keysDir: string;
  generateKeys: boolean;
  jwksMaxAgeSeconds: number;
  keyRotationMarginSeconds: number;
  keysReloadIntervalSeconds: number;
  idTokenTtlSeconds: number;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  serviceTokenAudience: string;
  serviceTokenTtlSeconds: number;
  refreshTokenReuseGraceSeconds: number;
  authorizationCodeTtlSeconds: number;
  sessionTtlSeconds: number;
  interactionTtlSeconds: number;
  grantTtlSeconds: number;
  argon2MemoryKib: number;
  argon2Iterations: number;
  argon2Parallelism: number;
  payloadCleanupIntervalSeconds: number;
  clientCacheTtlSeconds: number;
  confidentialClientsRequirePkce: boolean;
  auditRetentionDays: number;
  // Abuse protection (idp/abuse/): rate limits and sign-in lockout.
  redisUrl: string | undefined;
  redisCommandTimeoutMs: number;
  rateLimitWindowSeconds: number;
  rateLimitSyncIntervalMs: number;
  requestLimitPerIp: number;
  signInLimitPerIp: number;
  signInLimitPerAccount: number;
  tokenLimitPerIp: number;
  tokenLimitPerClient: number;
  lockoutThreshold: number;
  lockoutFailureWindowSeconds: number;
  lockoutDurationSeconds: number;
  lockoutMaxDurationSeconds: number;
  signInDelayMaxMs: number;
  logLevel: string;
  metricsToken: string | undefined;
  // The pages (idp/pages/): brand and language.
  brandName: string;
  brandLogoUrl: string | undefined;
  brandLogoFile: string | undefined;
  brandColor: string;
  defaultLocale: string;
  // Mail (idp/mail/) and password reset (idp/accounts/password-reset.ts).
  smtpUrl: string | undefined;
  mailFrom: string;
  passwordReset: boolean;
  mailMaxAttempts: number;
  mailSendTimeoutSeconds: number;
  mailPollIntervalMs: number;
  passwordResetLimitPerIp: number;
  passwordResetLimitPerAccount: number;
  // Passwordless sign-in and sign-up (idp/accounts/code-sign-in.ts, sign-up.ts).
  signInMethods: string;
  emailCodeLimitPerIp: number;
  emailCodeLimitPerAccount: number;
  signUp: string;
  signUpEmailDomains: string | undefined;
  // Sign-up spam protection (idp/abuse/sign-up-guard.ts, README "Sign-up spam protection").
  signUpMinFormSeconds: number;
  signUpMaxFormSeconds: number;
  signUpProofOfWork: boolean;
  signUpLimitPerIp: number;
  signUpLimitPerDomain: number;
  signUpBlockedDomains: string | undefined;
  // SMS (idp/sms/): phone numbers, senders, and the limits on sending codes.
  smsTwilioAccountSid: string | undefined;
  smsTwilioAuthToken: string | undefined;
  smsTwilioFrom: string | undefined;
  smsTwilioApiUrl: string;
  smsWebhookUrl: string | undefined;
  smsWebhookSecret: string | undefined;
  /** Canonical after loadConfig ("DE,AT,CH"); parseCountryList makes it a list. */
  smsAllowedCountries: string | undefined;
  smsCodeLimitPerIp: number;
  smsCodeLimitPerNumber: number;
  // Webhooks (idp/webhooks/, README "Webhooks"): delivery of user events to `idp webhooks` endpoints.
  webhookTimeoutSeconds: number;
  webhookMaxBackoffSeconds: number;
  webhookMaxAgeSeconds: number;
  webhookPollIntervalMs: number;
  // The device authorization grant (RFC 8628; idp/oidc/device-flow.ts, README "Command-line tools and devices").
  deviceCodeTtlSeconds: number;
  deviceCodeLimitPerIp: number;
  // Second factors (idp/accounts/second-factors.ts, README "Second factors").
  mfa: string;
  // Passkeys (idp/accounts/passkeys.ts, README "Passkeys").
  webauthnRpId: string;
};

type Kind = "string" | "integer" | "boolean";

type Setting = {
  env: string;
  kind: Kind;
  /** The default, computed from what is already known (so ISSUER can follow PORT). */
  fallback: (partial: Partial<Config>, env: Env) => string | undefined;
  doc: string;
};

type Env = Record<string, string | undefined>;

const constant = (value: string) => () => value;

/** The settings, in the order the README documents them. */
export const settings: { [K in keyof Config]: Setting } = {
  production: {
    env: "NODE_ENV",
    kind: "string",
    fallback: constant("development"),
    doc: "`production` refuses to start without DATABASE_URL and without existing keys (unless GENERATE_KEYS=true).",
  },
  port: { env: "PORT", kind: "integer", fallback: constant("3000"), doc: "TCP port the server listens on." },
  host: {
    env: "HOST",
    kind: "string",
    fallback: constant("127.0.0.1"),
    doc: "Address to bind; `0.0.0.0` in containers.",
  },
  issuer: {
    env: "ISSUER",
    kind: "string",
    fallback: (partial) => `http://localhost:${partial.port}/oidc`,
    doc: "The exact issuer string in discovery, every token's `iss` and Convex's `auth.config.ts`. Never change it once users exist: Convex's `tokenIdentifier` contains it. Its path is where the OIDC endpoints are mounted.",
  },
  trustProxy: {
    env: "TRUST_PROXY",
    kind: "boolean",
    fallback: constant("false"),
    doc: "Trust `X-Forwarded-*` headers from a TLS-terminating proxy, so advertised endpoints and cookies are https.",
  },
  allowedHosts: {
    env: "ALLOWED_HOSTS",
    kind: "string",
    fallback: (partial) => URL.parse(partial.issuer ?? "")?.host,
    doc: "Host names the IdP answers for, comma-separated `host` (any port) or `host:port`, compared case-insensitively; under TRUST_PROXY the `X-Forwarded-Host` is what is checked. The ISSUER's host is always allowed, and when it is `localhost`, `127.0.0.1` or `[::1]` so are the other two, on any port. Another host gets 421, a malformed one 400, so the provider never builds a URL from a name it does not serve. `*`: any well-formed host (development only; warns in production). `/healthz`, `/readyz` and `/metrics` answer any well-formed host, for probes and scrapers that use the pod's address.",
  },
  databaseUrl: {
    env: "DATABASE_URL",
    kind: "string",
    fallback: () => undefined,
    doc: "PostgreSQL connection string. Unset: an embedded PostgreSQL (PGlite) under DATA_DIR (development only).",
  },
  databasePoolMax: { env: "DATABASE_POOL_MAX", kind: "integer", fallback: constant("10"), doc: "Maximum connections in the pool." },
  databasePreparedStatements: {
    env: "DATABASE_PREPARED_STATEMENTS",
    kind: "boolean",
    fallback: constant("true"),
    doc: "Prepare parameterised statements once per connection (PostgreSQL then skips parsing and planning them on every request). Turn off behind a pooler in transaction mode that cannot keep prepared statements (PgBouncer before 1.21, or without max_prepared_statements).",
  },
  databaseStatementTimeoutMs: {
    env: "DATABASE_STATEMENT_TIMEOUT_MS",
    kind: "integer",
    fallback: constant("5000"),
    doc: "PostgreSQL cancels a statement that runs longer than this, milliseconds (each connection's `statement_timeout`), and the IdP gives up on a server that has not answered a second after it; the request then answers 503 with Retry-After. Migrations run without it. 0 turns both off. Behind PgBouncer, list `statement_timeout` in its `ignore_startup_parameters`. Not applied to the embedded database.",
  },
  dataDir: {
    env: "DATA_DIR",
    kind: "string",
    fallback: constant("data"),
    doc: "Where the embedded database keeps its files.",
  },
  keysDir: {
    env: "KEYS_DIR",
    kind: "string",
    fallback: constant("keys"),
    doc: "Directory of signing keys (private JWKs) and cookie keys, files mode 0600.",
  },
  generateKeys: {
    env: "GENERATE_KEYS",
    kind: "boolean",
    fallback: (partial) => String(!partial.production),
    doc: "Generate a signing key and cookie keys at start when none exist. Default: true in development, false in production.",
  },
  jwksMaxAgeSeconds: {
    env: "JWKS_MAX_AGE",
    kind: "integer",
    fallback: constant("300"),
    doc: "`Cache-Control: max-age` of the JWKS, in seconds. Convex caches the JWKS this long.",
  },
  keyRotationMarginSeconds: {
    env: "KEY_ROTATION_MARGIN",
    kind: "integer",
    fallback: constant("60"),
    doc: "Extra seconds in a staged rotation: a new key signs only after it has been published for JWKS_MAX_AGE plus this, and a replaced key stays published for the longest token lifetime plus this. Must exceed KEYS_RELOAD_INTERVAL.",
  },
  keysReloadIntervalSeconds: {
    env: "KEYS_RELOAD_INTERVAL",
    kind: "integer",
    fallback: constant("10"),
    doc: "How often a running server re-reads KEYS_DIR and moves keys along their schedule, seconds (0 turns it off).",
  },
  idTokenTtlSeconds: { env: "ID_TOKEN_TTL", kind: "integer", fallback: constant("3600"), doc: "ID token lifetime, seconds." },
  accessTokenTtlSeconds: {
    env: "ACCESS_TOKEN_TTL",
    kind: "integer",
    fallback: constant("3600"),
    doc: "Access token lifetime, seconds.",
  },
  refreshTokenTtlSeconds: {
    env: "REFRESH_TOKEN_TTL",
    kind: "integer",
    fallback: constant(String(14 * 24 * 3600)),
    doc: "Refresh token lifetime, seconds (each rotation issues a token with this lifetime).",
  },
  refreshTokenReuseGraceSeconds: {
    env: "REFRESH_TOKEN_REUSE_GRACE",
    kind: "integer",
    fallback: constant("10"),
    doc: "A rotated refresh token presented again within this many seconds is refused without revoking the grant (concurrent refreshes); later, reuse revokes the whole grant.",
  },
  serviceTokenAudience: {
    env: "SERVICE_TOKEN_AUDIENCE",
    kind: "string",
    fallback: constant("convex-services"),
    doc: "The `aud` of service tokens (client_credentials): the `applicationID` of the second customJwt entry in Convex's auth.config.ts.",
  },
  serviceTokenTtlSeconds: {
    env: "SERVICE_TOKEN_TTL",
    kind: "integer",
    fallback: constant("300"),
    doc: "Service token lifetime, seconds. Services fetch a new one when it runs out; nothing refreshes it.",
  },
  authorizationCodeTtlSeconds: {
    env: "AUTHORIZATION_CODE_TTL",
    kind: "integer",
    fallback: constant("60"),
    doc: "Authorization code lifetime, seconds.",
  },
  sessionTtlSeconds: {
    env: "SESSION_TTL",
    kind: "integer",
    fallback: constant(String(14 * 24 * 3600)),
    doc: "Sign-in session lifetime at the IdP, seconds.",
  },
  interactionTtlSeconds: {
    env: "INTERACTION_TTL",
    kind: "integer",
    fallback: constant("900"),
    doc: "How long a login or consent page stays usable, seconds.",
  },
  grantTtlSeconds: {
    env: "GRANT_TTL",
    kind: "integer",
    fallback: constant(String(14 * 24 * 3600)),
    doc: "Lifetime of a user's grant to a client, seconds.",
  },
  argon2MemoryKib: {
    env: "ARGON2_MEMORY_KIB",
    kind: "integer",
    fallback: constant("19456"),
    doc: "argon2id memory cost in KiB (OWASP: 19 MiB). Changing a parameter rehashes each password at its next sign-in.",
  },
  argon2Iterations: { env: "ARGON2_ITERATIONS", kind: "integer", fallback: constant("2"), doc: "argon2id time cost (OWASP: 2)." },
  argon2Parallelism: {
    env: "ARGON2_PARALLELISM",
    kind: "integer",
    fallback: constant("1"),
    doc: "argon2id parallelism (OWASP: 1).",
  },
  payloadCleanupIntervalSeconds: {
    env: "CLEANUP_INTERVAL",
    kind: "integer",
    fallback: constant("600"),
    doc: "How often expired sessions, codes and tokens are deleted, seconds (0 turns it off).",
  },
  auditRetentionDays: {
    env: "AUDIT_RETENTION_DAYS",
    kind: "integer",
    fallback: constant("0"),
    doc: "Days audit events are kept; older ones are deleted every CLEANUP_INTERVAL, recorded as one `audit.expired` event. 0: kept forever.",
  },
  confidentialClientsRequirePkce: {
    env: "CONFIDENTIAL_CLIENTS_REQUIRE_PKCE",
    kind: "boolean",
    fallback: constant("true"),
    doc: "Confidential clients (with a secret) must use PKCE (S256) too, as RFC 9700 recommends. false lets a server-side app that cannot send a code_challenge sign people in. Public clients always must.",
  },
  clientCacheTtlSeconds: {
    env: "CLIENT_CACHE_TTL",
    kind: "integer",
    fallback: constant("5"),
    doc: "Seconds an instance keeps a registered client in memory for its token requests and sign-in pages (0 turns it off); also how often the sign-in page re-reads the upstream identity providers (`idp upstreams`). After `idp clients remove` (which revokes everything issued so far at once), an instance with a cached copy accepts the client for up to this long more; what it issues meanwhile stops working when its copy expires, except signed JWTs (ID tokens, service tokens), which last their lifetime like any issued just before.",
  },
  // Abuse protection: rate limits and sign-in lockout (idp/abuse/, README "Abuse protection").
  redisUrl: {
    env: "REDIS_URL",
    kind: "string",
    fallback: () => undefined,
    doc: "Redis (`redis://host:6379`) for the rate-limit and lockout counters. Unset: they live in the database (table `rate_limits`). Either way every instance shares them.",
  },
  redisCommandTimeoutMs: {
    env: "REDIS_COMMAND_TIMEOUT_MS",
    kind: "integer",
    fallback: constant("2000"),
    doc: "How long, milliseconds, the IdP waits for Redis to answer a command (or a new connection to be ready); past it the request answers 503 with Retry-After and the connection is replaced by a new one. 0: no limit.",
  },
  rateLimitWindowSeconds: {
    env: "RATE_LIMIT_WINDOW",
    kind: "integer",
    fallback: constant("60"),
    doc: "The window, seconds, over which the `*_LIMIT_*` settings count. A minute: whoever hits a limit by accident waits at most that, and counters stay few.",
  },
  rateLimitSyncIntervalMs: {
    env: "RATE_LIMIT_SYNC_INTERVAL_MS",
    kind: "integer",
    fallback: constant("1000"),
    doc: "How often, milliseconds, each instance sends the requests it counted for the per-address and token limits to the shared counters and learns the other instances' counts; 0: every request goes to the counters as it comes (one round trip each). One instance alone counts exactly; with several, each sees the others' requests up to about this late, so together they may let through up to this long's worth of extra requests. Sign-in limits and the lockout always count at once.",
  },
  requestLimitPerIp: {
    env: "REQUEST_LIMIT_PER_IP",
    kind: "integer",
    fallback: constant("600"),
    doc: "Requests per window from one client address (an IPv6 /64 counts as one) to the OIDC endpoints and the sign-in pages; 0 turns it off. Generous: a sign-in takes about 6 requests, so an office behind one address is never stopped, a flood is.",
  },
  signInLimitPerIp: {
    env: "SIGN_IN_LIMIT_PER_IP",
    kind: "integer",
    fallback: constant("30"),
    doc: "Sign-in form posts per window from one client address, whatever the email; 0 turns it off. Enough for many people behind one NAT signing in at once; one address guessing across many accounts gets 30 guesses a minute.",
  },
  signInLimitPerAccount: {
    env: "SIGN_IN_LIMIT_PER_ACCOUNT",
    kind: "integer",
    fallback: constant("60"),
    doc: "Sign-in form posts per window for one email (trimmed, lower-cased), whether or not the account exists, from all addresses together; 0 turns it off. Wrong passwords meet the lockout long before it; it caps hammering an email from many addresses, and leaves room for a test suite that signs one user in before every test.",
  },
  tokenLimitPerIp: {
    env: "TOKEN_LIMIT_PER_IP",
    kind: "integer",
    fallback: constant("300"),
    doc: "Token endpoint requests per window from one client address; 0 turns it off. A browser refreshes about once an hour and a service fetches a token every few minutes, so only a loop or a secret-guesser reaches it.",
  },
  tokenLimitPerClient: {
    env: "TOKEN_LIMIT_PER_CLIENT",
    kind: "integer",
    fallback: constant("600"),
    doc: "Token endpoint requests per window for one client_id sent in an HTTP Basic `Authorization` header (requests without one count per address only); 0 turns it off. Twice the per-address limit, so a client served from several addresses is not stopped first.",
  },
  lockoutThreshold: {
    env: "LOCKOUT_THRESHOLD",
    kind: "integer",
    fallback: constant("5"),
    doc: "Wrong passwords for one email within LOCKOUT_FAILURE_WINDOW that lock it, known account or not; 0 turns the lockout off. Five leaves room for typos and caps lock, and keeps an attacker to a handful of guesses per lock.",
  },
  lockoutFailureWindowSeconds: {
    env: "LOCKOUT_FAILURE_WINDOW",
    kind: "integer",
    fallback: constant("900"),
    doc: "Failures older than this many seconds are forgotten. A successful sign-in also clears them.",
  },
  lockoutDurationSeconds: {
    env: "LOCKOUT_DURATION",
    kind: "integer",
    fallback: constant("900"),
    doc: "How long the first lock lasts, seconds; each further lock within 24 hours doubles it, up to LOCKOUT_MAX_DURATION. 15 minutes makes guessing slow while a locked-out person waits little.",
  },
  lockoutMaxDurationSeconds: {
    env: "LOCKOUT_MAX_DURATION",
    kind: "integer",
    fallback: constant("3600"),
    doc: "The longest lock, seconds. Every lock ends on its own, so an attacker can delay a person by at most this, never lock them out for good; sustained guessing gets about 5 tries an hour.",
  },
  signInDelayMaxMs: {
    env: "SIGN_IN_DELAY_MAX_MS",
    kind: "integer",
    fallback: constant("2000"),
    doc: "Cap on the delay added to a failed sign-in, milliseconds: from the second failure in a row the answer waits 250 ms, doubling each time, at most this; 0 turns it off. Slows scripted guessing; no database connection is held while waiting.",
  },
  metricsToken: {
    env: "METRICS_TOKEN",
    kind: "string",
    fallback: () => undefined,
    doc: "When set, GET /metrics requires `Authorization: Bearer <this token>`. Unset: /metrics is open (keep it off the public network).",
  },
  brandName: {
    env: "BRAND_NAME",
    kind: "string",
    fallback: (partial) => URL.parse(partial.issuer ?? "")?.hostname ?? "Identity provider",
    doc: "The organisation's name, in every page's header and title. Default: the issuer's host name.",
  },
  brandLogoUrl: {
    env: "BRAND_LOGO_URL",
    kind: "string",
    fallback: () => undefined,
    doc: "The logo in every page's header: an https URL (http only for localhost). The pages' Content-Security-Policy admits its origin.",
  },
  brandLogoFile: {
    env: "BRAND_LOGO_FILE",
    kind: "string",
    fallback: () => undefined,
    doc: "Instead of BRAND_LOGO_URL, a logo file the IdP serves itself (`.svg`, `.png`, `.jpg`, `.webp` or `.gif`, at most 512 KiB), read at start.",
  },
  brandColor: {
    env: "BRAND_COLOR",
    kind: "string",
    fallback: constant(DEFAULT_BRAND_COLOR),
    doc: "The brand colour, `#rgb` or `#rrggbb`: the buttons' colour as given in the light scheme (text on it black or white, whichever contrasts more); lightened in dark mode only where it would not stand out; links use a shade that keeps WCAG AA contrast.",
  },
  defaultLocale: {
    env: "DEFAULT_LOCALE",
    kind: "string",
    fallback: constant("en"),
    doc: "The pages' language when neither the request's `ui_locales` nor its Accept-Language names a supported one: `en`, `de`, `fr`, `es` or `ja` (one file per language in idp/pages/messages/).",
  },
  // Mail and password reset (idp/mail/, README "Mail and password reset").
  smtpUrl: {
    env: "SMTP_URL",
    kind: "string",
    fallback: () => undefined,
    doc: "The SMTP server mail goes out through: `smtp://user:password@host:587` (STARTTLS whenever the server offers it; in production required for a server off this machine unless the URL says `?requireTLS=false`, and `?requireTLS=true` requires it anywhere) or `smtps://user:password@host:465` (TLS from the start); user and password percent-encoded. Unset: in development mails are written to DATA_DIR/outbox/ as .eml files and their links logged; in production nothing that needs mail is offered.",
  },
  mailFrom: {
    env: "MAIL_FROM",
    kind: "string",
    fallback: (partial) => `no-reply@${URL.parse(partial.issuer ?? "")?.hostname ?? "localhost"}`,
    doc: "The sender of every mail: `no-reply@auth.example.com` (then shown with BRAND_NAME as its name) or `Acme <no-reply@acme.example>`. Default: `no-reply@` the issuer's host name.",
  },
  passwordReset: {
    env: "PASSWORD_RESET",
    kind: "boolean",
    fallback: (partial) => String(!partial.production || partial.smtpUrl !== undefined),
    doc: "Offer \"Forgot password?\" on the sign-in page: a single-use link by mail to choose a new password. Default: on in development, and in production when SMTP_URL is set; in production `true` without SMTP_URL stops the IdP at start.",
  },
  mailMaxAttempts: {
    env: "MAIL_MAX_ATTEMPTS",
    kind: "integer",
    fallback: constant("8"),
    doc: "Attempts to send one mail before it is given up (counted as failed in /metrics); between attempts the wait doubles from 30 seconds up to 30 minutes, so 8 attempts span about an hour. A reset link's mail is given up when the link expires, whatever the attempts.",
  },
  mailSendTimeoutSeconds: {
    env: "MAIL_SEND_TIMEOUT",
    kind: "integer",
    fallback: constant("20"),
    doc: "Seconds the SMTP server may take to accept a connection, to greet, and between any two of its answers; past it the attempt fails and is retried later. Nobody waits for it: mail goes out after the answer, from the outbox.",
  },
  mailPollIntervalMs: {
    env: "MAIL_POLL_INTERVAL_MS",
    kind: "integer",
    fallback: constant("2000"),
    doc: "How often, milliseconds, each instance looks in the outbox for mail that is due: retries, and mail left by an instance that stopped. Mail an instance queues itself is sent at once.",
  },
  passwordResetLimitPerIp: {
    env: "PASSWORD_RESET_LIMIT_PER_IP",
    kind: "integer",
    fallback: constant("10"),
    doc: "Password reset posts (asking for a link, or choosing the new password) per RATE_LIMIT_WINDOW from one client address; 0 turns it off.",
  },
  passwordResetLimitPerAccount: {
    env: "PASSWORD_RESET_LIMIT_PER_ACCOUNT",
    kind: "integer",
    fallback: constant("5"),
    doc: "Requests for a reset link per RATE_LIMIT_WINDOW for one email, registered or not; 0 turns it off. Besides it, one email gets at most one link a minute: a request within 60 seconds of the last sends nothing (and answers the same).",
  },
  signInMethods: {
    env: "SIGN_IN_METHODS",
    kind: "string",
    fallback: (partial) => (!partial.production || partial.smtpUrl !== undefined ? "password,email_code" : "password"),
    doc: "The ways to sign in the sign-in page offers, comma-separated: `password`, `email_code` (a 6-digit code and a sign-in link by mail) and `sms_code` (a 6-digit code by text message to the account's verified phone number). Default: `password,email_code` when mail can be sent (development, or SMTP_URL set), else `password`. In production `email_code` needs SMTP_URL and `sms_code` an SMS sender.",
  },
  emailCodeLimitPerIp: {
    env: "EMAIL_CODE_LIMIT_PER_IP",
    kind: "integer",
    fallback: constant("10"),
    doc: "Requests for a sign-in code by mail per RATE_LIMIT_WINDOW from one client address; 0 turns it off. Typing a code counts against the sign-in limits (SIGN_IN_LIMIT_PER_IP, SIGN_IN_LIMIT_PER_ACCOUNT), and each wrong code against the lockout.",
  },
  emailCodeLimitPerAccount: {
    env: "EMAIL_CODE_LIMIT_PER_ACCOUNT",
    kind: "integer",
    fallback: constant("5"),
    doc: "Requests for a sign-in code per RATE_LIMIT_WINDOW for one email, registered or not; 0 turns it off. Besides it, one email gets at most one code a minute: a request within 60 seconds of the last sends nothing (and answers the same).",
  },
  signUp: {
    env: "SIGN_UP",
    kind: "string",
    fallback: constant("off"),
    doc: "Who can create an account: `off` (only the operator, with `idp users add`), `open` (anyone, from \"Create an account\" on the sign-in page: email, a code or link by mail, then a password) or `invite` (only someone the operator invited with `idp users invite`). `open` and `invite` need mail: in production, SMTP_URL.",
  },
  signUpEmailDomains: {
    env: "SIGN_UP_EMAIL_DOMAINS",
    kind: "string",
    fallback: () => undefined,
    doc: "With SIGN_UP=open, only addresses of these domains can sign up, comma-separated (`example.com,example.org`; subdomains not included). Unset: any domain not on the disposable-domain list.",
  },
  // Sign-up spam protection (idp/abuse/sign-up-guard.ts, README "Sign-up spam protection").
  signUpMinFormSeconds: {
    env: "SIGN_UP_MIN_FORM_SECONDS",
    kind: "integer",
    fallback: constant("2"),
    doc: "A sign-up form sent sooner than this many seconds after it was shown is refused (\"please send it again\"): people take longer, scripts often do not. At most 3, so a person with a password manager is never held up; 0 turns it off.",
  },
  signUpMaxFormSeconds: {
    env: "SIGN_UP_MAX_FORM_SECONDS",
    kind: "integer",
    fallback: constant("3600"),
    doc: "A sign-up form sent later than this many seconds after it was shown is refused (\"please send it again\"), so a harvested form cannot be posted for days. Also how long a proof-of-work challenge lasts.",
  },
  signUpProofOfWork: {
    env: "SIGN_UP_PROOF_OF_WORK",
    kind: "boolean",
    fallback: constant("false"),
    doc: "Add an ALTCHA proof-of-work challenge to the sign-up form, solved by the browser in the background (no click, nothing shown; a fraction of a second to a few seconds of one core). The page then runs one script, served by the IdP. A browser without script still signs up: its post counts double against SIGN_UP_LIMIT_PER_IP. A wrong, expired or reused solution is refused.",
  },
  signUpLimitPerIp: {
    env: "SIGN_UP_LIMIT_PER_IP",
    kind: "integer",
    fallback: constant("10"),
    doc: "Sign-up posts per RATE_LIMIT_WINDOW from one client address (an IPv6 /64 counts as one); 0 turns it off.",
  },
  signUpLimitPerDomain: {
    env: "SIGN_UP_LIMIT_PER_DOMAIN",
    kind: "integer",
    fallback: constant("50"),
    doc: "Sign-up posts per RATE_LIMIT_WINDOW for one email domain (lower-cased, everything after the @), from all addresses together; 0 turns it off. Slows a flood of sign-ups at one (perhaps newly made-up) domain from many addresses.",
  },
  signUpBlockedDomains: {
    env: "SIGN_UP_BLOCKED_DOMAINS",
    kind: "string",
    fallback: () => undefined,
    doc: "Email domains sign-up refuses besides the shipped list of disposable ones (idp/abuse/disposable-domains.txt), comma-separated: `example.net,spam.example`. Subdomains are refused too; case does not matter.",
  },
  // SMS (idp/sms/, README "SMS").
  smsTwilioAccountSid: {
    env: "SMS_TWILIO_ACCOUNT_SID",
    kind: "string",
    fallback: () => undefined,
    doc: "Send SMS through Twilio's REST API (or a Twilio-compatible one, SMS_TWILIO_API_URL) as this account (`AC...`). Needs SMS_TWILIO_AUTH_TOKEN and SMS_TWILIO_FROM too: all three or none.",
  },
  smsTwilioAuthToken: {
    env: "SMS_TWILIO_AUTH_TOKEN",
    kind: "string",
    fallback: () => undefined,
    doc: "The Twilio account's auth token (or an API key secret). A secret: never logged.",
  },
  smsTwilioFrom: {
    env: "SMS_TWILIO_FROM",
    kind: "string",
    fallback: () => undefined,
    doc: "Who SMS come from: a Twilio number in E.164 (`+15017122661`), a Messaging Service SID (`MG...`, then Twilio picks the number), or an alphanumeric sender ID (1-11 letters, digits and spaces, at least one letter; not every country delivers those).",
  },
  smsTwilioApiUrl: {
    env: "SMS_TWILIO_API_URL",
    kind: "string",
    fallback: constant("https://api.twilio.com"),
    doc: "The Twilio API's base URL; messages are posted to `{this}/2010-04-01/Accounts/{sid}/Messages.json`. https (http only for localhost).",
  },
  smsWebhookUrl: {
    env: "SMS_WEBHOOK_URL",
    kind: "string",
    fallback: () => undefined,
    doc: "Instead of Twilio, post each SMS as JSON `{\"to\",\"body\",\"id\"}` to this https URL (http only for localhost), signed with SMS_WEBHOOK_SECRET (README \"SMS\"); any 2xx answer counts as sent.",
  },
  smsWebhookSecret: {
    env: "SMS_WEBHOOK_SECRET",
    kind: "string",
    fallback: () => undefined,
    doc: "The HMAC-SHA256 key the webhook's `X-Idp-Signature` is made with, at least 32 characters (`openssl rand -hex 32`); required with SMS_WEBHOOK_URL. A secret: never logged.",
  },
  smsAllowedCountries: {
    env: "SMS_ALLOWED_COUNTRIES",
    kind: "string",
    fallback: () => undefined,
    doc: "The countries SMS may go to, as comma-separated ISO 3166-1 alpha-2 codes (`DE,AT,CH`): a number of another country is refused before anything is sent, which bounds what SMS pumping can cost. Unset: any country.",
  },
  smsCodeLimitPerIp: {
    env: "SMS_CODE_LIMIT_PER_IP",
    kind: "integer",
    fallback: constant("10"),
    doc: "Requests for an SMS code per RATE_LIMIT_WINDOW from one client address, whatever the number; 0 turns it off.",
  },
  smsCodeLimitPerNumber: {
    env: "SMS_CODE_LIMIT_PER_NUMBER",
    kind: "integer",
    fallback: constant("5"),
    doc: "Requests for an SMS code per RATE_LIMIT_WINDOW for one phone number, registered or not, from all addresses together; 0 turns it off.",
  },
  // Webhooks (idp/webhooks/, README "Webhooks").
  webhookTimeoutSeconds: {
    env: "WEBHOOK_TIMEOUT",
    kind: "integer",
    fallback: constant("10"),
    doc: "Seconds a webhook endpoint may take to answer a delivery; past it the attempt fails and is retried. Nobody waits for it: events go out from the outbox after the change is saved.",
  },
  webhookMaxBackoffSeconds: {
    env: "WEBHOOK_MAX_BACKOFF",
    kind: "integer",
    fallback: constant("300"),
    doc: "The longest wait, seconds, between two attempts to deliver one webhook: the wait starts at 5 seconds and doubles up to this. An endpoint that is back gets its events within about this long.",
  },
  webhookMaxAgeSeconds: {
    env: "WEBHOOK_MAX_AGE",
    kind: "integer",
    fallback: constant("259200"),
    doc: "Seconds an event is retried before it is given up (counted as failed in /metrics); default 3 days. Until then an endpoint that is down loses nothing, across restarts of the IdP too, and later events of the same user wait behind it.",
  },
  webhookPollIntervalMs: {
    env: "WEBHOOK_POLL_INTERVAL_MS",
    kind: "integer",
    fallback: constant("1000"),
    doc: "How often, milliseconds, each instance looks for webhook deliveries that are due: new events (also those the CLI queued), retries, and deliveries left by an instance that stopped.",
  },
  deviceCodeTtlSeconds: {
    env: "DEVICE_CODE_TTL",
    kind: "integer",
    fallback: constant("600"),
    doc: "How long a device's code (RFC 8628) may be entered at `<issuer>/device`, seconds; after that the device's polling gets `expired_token`.",
  },
  deviceCodeLimitPerIp: {
    env: "DEVICE_CODE_LIMIT_PER_IP",
    kind: "integer",
    fallback: constant("20"),
    doc: "Codes entered at `<issuer>/device` per RATE_LIMIT_WINDOW from one client address, right or wrong; 0 turns it off. Guessing a code takes billions of tries.",
  },
  // Second factors (idp/accounts/second-factors.ts, README "Second factors").
  mfa: {
    env: "MFA",
    kind: "string",
    fallback: constant("optional"),
    doc: "`optional`: a second factor (authenticator app, passkey) is asked of people who set one up, at clients added with `--require-mfa`, and when an application asks for it (`acr_values`). `required`: of everyone; a person without one sets up an authenticator app while signing in.",
  },
  webauthnRpId: {
    env: "WEBAUTHN_RP_ID",
    kind: "string",
    fallback: (partial) => URL.parse(partial.issuer ?? "")?.hostname,
    doc: "The WebAuthn relying party ID passkeys are created for: the ISSUER's host name (the default) or a parent domain of it (`example.com` for `auth.example.com`, so the passkeys also work on the parent's other subdomains). Each passkey is stored with the ID it was made for and only works for that one: changing this setting orphans every existing passkey (people then sign in another way and add a new one).",
  },
  logLevel: {
    env: "LOG_LEVEL",
    kind: "string",
    fallback: constant("info"),
    doc: "pino log level: `fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`.",
  },
};

export class ConfigError extends Error {
  override name = "ConfigError";
}

function parseValue(setting: Setting, raw: string): string | number | boolean {
  switch (setting.kind) {
    case "integer": {
      if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`${setting.env} must be a whole number, got "${raw}"`);
      return Number(raw.trim());
    }
    case "boolean": {
      const value = raw.trim().toLowerCase();
      if (["true", "1", "yes"].includes(value)) return true;
      if (["false", "0", "no", ""].includes(value)) return false;
      throw new ConfigError(`${setting.env} must be true or false, got "${raw}"`);
    }
    default:
      return raw;
  }
}

/** Reads the configuration from an environment; throws ConfigError with a clear message. */
export function loadConfig(env: Env = process.env, overrides: Partial<Config> = {}): Config {
  const partial: Partial<Config> = {};
  for (const [key, setting] of Object.entries(settings) as [keyof Config, Setting][]) {
    if (key in overrides) {
      (partial as Record<string, unknown>)[key] = overrides[key];
      continue;
    }
    // An empty variable (PORT= in a .env file) means "unset", so the default applies.
    const given = env[setting.env];
    const raw = given === undefined || given === "" ? setting.fallback(partial, env) : given;
    let value = raw === undefined || raw === "" ? undefined : parseValue(setting, raw);
    if (key === "production") value = raw === "production";
    (partial as Record<string, unknown>)[key] = value;
  }
  const config = partial as Config;
  validate(config);
  return {
    ...config,
    dataDir: path.resolve(config.dataDir),
    keysDir: path.resolve(config.keysDir),
    brandColor: parseHexColor(config.brandColor)!,
    brandLogoFile: config.brandLogoFile && path.resolve(config.brandLogoFile),
    smsAllowedCountries: parseCountryList(config.smsAllowedCountries)?.join(","),
  };
}

function validate(config: Config): void {
  // PORT first: the default ISSUER is built from it, and its own message is clearer.
  if (config.port > 65535) throw new ConfigError("PORT must be at most 65535");
  let issuer: URL;
  try {
    issuer = new URL(config.issuer);
  } catch {
    throw new ConfigError(`ISSUER must be an absolute URL, got "${config.issuer}"`);
  }
  if (issuer.protocol !== "https:" && issuer.protocol !== "http:") throw new ConfigError("ISSUER must be an http(s) URL");
  if (issuer.search || issuer.hash) throw new ConfigError("ISSUER must not have a query or fragment");
  if (issuer.pathname === "/") {
    throw new ConfigError("ISSUER needs a path where the OIDC endpoints live, for example https://auth.example.com/oidc");
  }
  if (config.issuer.endsWith("/")) throw new ConfigError("ISSUER must not end with '/': Convex compares it byte for byte");
  try {
    parseAllowedHosts(config.allowedHosts, config.issuer);
  } catch (error) {
    throw new ConfigError(`ALLOWED_HOSTS ${(error as Error).message}`);
  }
  if (config.production && !config.databaseUrl) {
    throw new ConfigError(
      "NODE_ENV=production requires DATABASE_URL: the embedded database is for development only. Set DATABASE_URL=postgres://user:password@host:5432/db",
    );
  }
  if (config.production && issuer.protocol !== "https:" && !["localhost", "127.0.0.1"].includes(issuer.hostname)) {
    throw new ConfigError("NODE_ENV=production requires an https ISSUER");
  }
  if (config.argon2MemoryKib < 8 * config.argon2Parallelism) throw new ConfigError("ARGON2_MEMORY_KIB is too small");
  if (config.argon2Iterations < 1 || config.argon2Parallelism < 1) throw new ConfigError("argon2 costs must be at least 1");
  if (config.keysReloadIntervalSeconds > 0 && config.keyRotationMarginSeconds <= config.keysReloadIntervalSeconds) {
    throw new ConfigError("KEY_ROTATION_MARGIN must be greater than KEYS_RELOAD_INTERVAL, or instances could sign with a key others have not published yet");
  }
  if (config.databasePoolMax < 1) throw new ConfigError("DATABASE_POOL_MAX must be at least 1");
  if (config.auditRetentionDays > 0 && config.payloadCleanupIntervalSeconds === 0) {
    throw new ConfigError("AUDIT_RETENTION_DAYS needs CLEANUP_INTERVAL above 0: the retention runs with the cleanup");
  }
  if (config.redisUrl && !/^rediss?:\/\//.test(config.redisUrl)) throw new ConfigError("REDIS_URL must start with redis:// or rediss://");
  if (config.rateLimitWindowSeconds < 1) throw new ConfigError("RATE_LIMIT_WINDOW must be at least 1");
  if (config.rateLimitSyncIntervalMs >= config.rateLimitWindowSeconds * 1000) {
    throw new ConfigError("RATE_LIMIT_SYNC_INTERVAL_MS must be shorter than RATE_LIMIT_WINDOW");
  }
  if (config.lockoutFailureWindowSeconds < 1) throw new ConfigError("LOCKOUT_FAILURE_WINDOW must be at least 1");
  if (config.lockoutDurationSeconds < 1) throw new ConfigError("LOCKOUT_DURATION must be at least 1");
  if (config.lockoutMaxDurationSeconds < config.lockoutDurationSeconds) {
    throw new ConfigError("LOCKOUT_MAX_DURATION must be at least LOCKOUT_DURATION");
  }
  validateBranding(config);
  validateMail(config);
  validateSignUp(config);
  validateSms(config);
  validateWebhooks(config);
  if (!["optional", "required"].includes(config.mfa)) throw new ConfigError(`MFA must be optional or required, got ${JSON.stringify(config.mfa)}`);
  validateWebauthn(config);
}

function validateWebauthn(config: Config): void {
  // A browser accepts an RP ID only if it is the page's host or a registrable parent of it.
  const host = new URL(config.issuer).hostname.toLowerCase();
  const rpId = config.webauthnRpId.toLowerCase();
  const domain = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/.test(rpId);
  if (rpId !== host && !(domain && rpId.includes(".") && host.endsWith(`.${rpId}`))) {
    throw new ConfigError(`WEBAUTHN_RP_ID must be the ISSUER's host name (${host}) or a parent domain of it, got ${JSON.stringify(config.webauthnRpId)}`);
  }
}

function validateWebhooks(config: Config): void {
  if (config.webhookTimeoutSeconds < 1) throw new ConfigError("WEBHOOK_TIMEOUT must be at least 1");
  if (config.webhookMaxBackoffSeconds < 1) throw new ConfigError("WEBHOOK_MAX_BACKOFF must be at least 1");
  if (config.webhookMaxAgeSeconds < 1) throw new ConfigError("WEBHOOK_MAX_AGE must be at least 1");
  if (config.webhookPollIntervalMs < 10) throw new ConfigError("WEBHOOK_POLL_INTERVAL_MS must be at least 10");
}

function validateSignUp(config: Config): void {
  if (config.signUpMinFormSeconds > 3) throw new ConfigError("SIGN_UP_MIN_FORM_SECONDS must be at most 3: people with a password manager send the form that fast");
  if (config.signUpMaxFormSeconds <= config.signUpMinFormSeconds) {
    throw new ConfigError("SIGN_UP_MAX_FORM_SECONDS must be greater than SIGN_UP_MIN_FORM_SECONDS");
  }
  try {
    parseBlockedDomains(config.signUpBlockedDomains);
  } catch (error) {
    throw new ConfigError(`SIGN_UP_BLOCKED_DOMAINS: ${(error as Error).message}`);
  }
}

/** An https URL, or http to this machine; no credentials in it. */
function webUrl(value: string): URL | undefined {
  const url = URL.parse(value);
  const local = url && LOOPBACK_NAMES.includes(url.hostname);
  if (!url || !(url.protocol === "https:" || (url.protocol === "http:" && local)) || url.username || url.password) return undefined;
  return url;
}

function validateSms(config: Config): void {
  const twilio = { SMS_TWILIO_ACCOUNT_SID: config.smsTwilioAccountSid, SMS_TWILIO_AUTH_TOKEN: config.smsTwilioAuthToken, SMS_TWILIO_FROM: config.smsTwilioFrom };
  const given = Object.entries(twilio).filter(([, value]) => value !== undefined);
  if (given.length > 0 && given.length < 3) {
    const missing = Object.keys(twilio).filter((name) => twilio[name as keyof typeof twilio] === undefined);
    throw new ConfigError(`${missing.join(" and ")} must be set too: Twilio needs SMS_TWILIO_ACCOUNT_SID, SMS_TWILIO_AUTH_TOKEN and SMS_TWILIO_FROM, or none of them`);
  }
  // It becomes a path segment of the API URL.
  if (config.smsTwilioAccountSid !== undefined && !/^[A-Za-z0-9-]{1,64}$/.test(config.smsTwilioAccountSid)) {
    throw new ConfigError("SMS_TWILIO_ACCOUNT_SID must be an account SID such as AC0123456789abcdef0123456789abcdef");
  }
  if (config.smsTwilioAuthToken !== undefined && /[\u0000-\u001f\u007f]/.test(config.smsTwilioAuthToken)) {
    throw new ConfigError("SMS_TWILIO_AUTH_TOKEN must not contain control characters");
  }
  if (config.smsTwilioFrom !== undefined && twilioSenderKind(config.smsTwilioFrom) === undefined) {
    throw new ConfigError(
      `SMS_TWILIO_FROM must be a number in E.164 such as +15017122661, a Messaging Service SID (MG...), or an alphanumeric sender ID of 1-11 characters, got ${JSON.stringify(config.smsTwilioFrom)}`,
    );
  }
  if (!webUrl(config.smsTwilioApiUrl) || URL.parse(config.smsTwilioApiUrl)!.search) {
    throw new ConfigError("SMS_TWILIO_API_URL must be an https URL (http only for localhost), without credentials or query");
  }
  if (config.smsWebhookUrl !== undefined) {
    if (!webUrl(config.smsWebhookUrl)) throw new ConfigError("SMS_WEBHOOK_URL must be an https URL (http only for localhost), without credentials");
    if (config.smsWebhookSecret === undefined) throw new ConfigError("SMS_WEBHOOK_URL needs SMS_WEBHOOK_SECRET: the receiver checks each request's signature with it");
    if (given.length > 0) throw new ConfigError("set SMS_WEBHOOK_URL or the SMS_TWILIO_* settings, not both");
  }
  if (config.smsWebhookSecret !== undefined) {
    if (config.smsWebhookUrl === undefined) throw new ConfigError("SMS_WEBHOOK_SECRET is set but SMS_WEBHOOK_URL is not");
    if (config.smsWebhookSecret.length < 32) throw new ConfigError("SMS_WEBHOOK_SECRET must be at least 32 characters, e.g. from `openssl rand -hex 32`");
  }
  try {
    parseCountryList(config.smsAllowedCountries);
  } catch (error) {
    throw new ConfigError(`SMS_ALLOWED_COUNTRIES: ${(error as Error).message}`);
  }
}

/**
 * How SMS_TWILIO_FROM is sent: a Messaging Service SID as MessagingServiceSid, a number or an
 * alphanumeric sender ID as From; undefined when it is neither.
 */
export function twilioSenderKind(from: string): "messagingService" | "from" | undefined {
  if (/^MG[0-9a-fA-F]{32}$/.test(from)) return "messagingService";
  if (/^\+[1-9]\d{6,14}$/.test(from)) return "from";
  if (/^[A-Za-z0-9 ]{1,11}$/.test(from) && /[A-Za-z]/.test(from) && from.trim() === from) return "from";
  return undefined;
}

function validateMail(config: Config): void {
  if (config.smtpUrl !== undefined) {
    const url = URL.parse(config.smtpUrl);
    if (!url || !["smtp:", "smtps:"].includes(url.protocol) || !url.hostname) {
      throw new ConfigError("SMTP_URL must be smtp://[user:password@]host[:port] or smtps://[user:password@]host[:port]");
    }
  }
  // An address, alone or as `Name <address>`; no line breaks (it becomes a header).
  if (/[\r\n]/.test(config.mailFrom) || !/^(?:[^<>]*<[^\s<>@]+@[^\s<>@]+>|[^\s<>@]+@[^\s<>@]+)$/.test(config.mailFrom.trim())) {
    throw new ConfigError(`MAIL_FROM must be an address such as no-reply@example.com or "Acme <no-reply@acme.example>", got ${JSON.stringify(config.mailFrom)}`);
  }
  if (config.production && config.passwordReset && config.smtpUrl === undefined) {
    throw new ConfigError("PASSWORD_RESET=true needs SMTP_URL in production: reset links go out by mail. Set SMTP_URL=smtp://user:password@host:587, or leave PASSWORD_RESET unset");
  }
  validateSignInMethods(config);
  if (config.mailMaxAttempts < 1) throw new ConfigError("MAIL_MAX_ATTEMPTS must be at least 1");
  if (config.mailSendTimeoutSeconds < 1) throw new ConfigError("MAIL_SEND_TIMEOUT must be at least 1");
  if (config.mailPollIntervalMs < 50) throw new ConfigError("MAIL_POLL_INTERVAL_MS must be at least 50");
}

/** The ways to sign in: SIGN_IN_METHODS. */
export type SignInMethod = "password" | "email_code" | "sms_code";
const SIGN_IN_METHODS: readonly SignInMethod[] = ["password", "email_code", "sms_code"];

export function signInMethods(config: Pick<Config, "signInMethods">): Set<SignInMethod> {
  return new Set(config.signInMethods.split(",").map((method) => method.trim()).filter(Boolean) as SignInMethod[]);
}

/** SIGN_UP_EMAIL_DOMAINS, lower-cased; undefined when any domain may sign up. */
export function signUpEmailDomains(config: Pick<Config, "signUpEmailDomains">): Set<string> | undefined {
  const domains = config.signUpEmailDomains?.split(",").map((domain) => domain.trim().toLowerCase()).filter(Boolean);
  return domains?.length ? new Set(domains) : undefined;
}

function validateSignInMethods(config: Config): void {
  const methods = config.signInMethods.split(",").map((method) => method.trim()).filter(Boolean);
  const unknown = methods.filter((method) => !SIGN_IN_METHODS.includes(method as SignInMethod));
  if (methods.length === 0 || unknown.length > 0) {
    throw new ConfigError(`SIGN_IN_METHODS must list one or more of ${SIGN_IN_METHODS.join(", ")}, comma-separated, got ${JSON.stringify(config.signInMethods)}`);
  }
  const mail = !config.production || config.smtpUrl !== undefined;
  if (methods.includes("email_code") && !mail) {
    throw new ConfigError("SIGN_IN_METHODS=email_code needs SMTP_URL in production: codes go out by mail. Set SMTP_URL=smtp://user:password@host:587, or remove email_code");
  }
  const sms = !config.production || config.smsTwilioAccountSid !== undefined || config.smsWebhookUrl !== undefined;
  if (methods.includes("sms_code") && !sms) {
    throw new ConfigError("SIGN_IN_METHODS=sms_code needs an SMS sender in production: set the SMS_TWILIO_* settings or SMS_WEBHOOK_URL, or remove sms_code");
  }
  if (!["off", "open", "invite"].includes(config.signUp)) throw new ConfigError(`SIGN_UP must be off, open or invite, got ${JSON.stringify(config.signUp)}`);
  if (config.signUp !== "off" && !mail) {
    throw new ConfigError(`SIGN_UP=${config.signUp} needs SMTP_URL in production: sign-up confirms the address by mail. Set SMTP_URL=smtp://user:password@host:587, or SIGN_UP=off`);
  }
  for (const domain of config.signUpEmailDomains?.split(",").map((d) => d.trim()).filter(Boolean) ?? []) {
    if (!/^(?!-)[a-z0-9-]+(\.[a-z0-9-]+)+$/i.test(domain)) throw new ConfigError(`SIGN_UP_EMAIL_DOMAINS must be domains such as example.com, comma-separated, got ${JSON.stringify(domain)}`);
  }
}

function validateBranding(config: Config): void {
  if (!parseHexColor(config.brandColor)) {
    throw new ConfigError(`BRAND_COLOR must be a hex colour such as #2457c5 or #25c, got ${JSON.stringify(config.brandColor)}`);
  }
  if (config.brandName.length > 100 || /[\u0000-\u001f\u007f]/.test(config.brandName)) {
    throw new ConfigError("BRAND_NAME must be at most 100 characters, without control characters");
  }
  if (config.brandLogoUrl && config.brandLogoFile) throw new ConfigError("set BRAND_LOGO_URL or BRAND_LOGO_FILE, not both");
  if (config.brandLogoUrl) {
    const url = URL.parse(config.brandLogoUrl);
    const local = url && LOOPBACK_NAMES.includes(url.hostname);
    if (!url || !(url.protocol === "https:" || (url.protocol === "http:" && local)) || url.username || url.password) {
      throw new ConfigError("BRAND_LOGO_URL must be an https URL (http only for localhost), without credentials");
    }
  }
  if (config.brandLogoFile && !/\.(svg|png|jpe?g|webp|gif)$/i.test(config.brandLogoFile)) {
    throw new ConfigError("BRAND_LOGO_FILE must be an .svg, .png, .jpg, .webp or .gif file");
  }
  const locales = supportedLocales();
  if (!locales.includes(config.defaultLocale)) {
    throw new ConfigError(`DEFAULT_LOCALE must be one of ${locales.join(", ")}, got ${JSON.stringify(config.defaultLocale)}`);
  }
}

/** Settings that start but are probably not what the operator meant, as log lines. */
export function configurationWarnings(config: Config): string[] {
  const warnings: string[] = [];
  if (new URL(config.issuer).protocol === "https:" && !config.trustProxy) {
    warnings.push(
      "ISSUER is https but TRUST_PROXY is off: requests from the TLS-terminating proxy look like plain http, so cookies are set without Secure. Set TRUST_PROXY=true behind a proxy you control.",
    );
  }
  return warnings;
}

/** Where the OIDC routes are mounted: the issuer's path ("/oidc" for http://localhost:3000/oidc). */
export function mountPath(config: Pick<Config, "issuer">): string {
  return new URL(config.issuer).pathname.replace(/\/$/, "");
}

/** What the key schedule needs to know: how long signed tokens live, and the safety margin. */
export function keySchedulePolicy(config: Pick<Config, "idTokenTtlSeconds" | "serviceTokenTtlSeconds" | "keyRotationMarginSeconds">) {
  return {
    maxSignedTokenTtlSeconds: Math.max(config.idTokenTtlSeconds, config.serviceTokenTtlSeconds),
    marginSeconds: config.keyRotationMarginSeconds,
  };
}
