// The CLI's composition root: builds what a command asks for (the database, the stores, the
// operator, the lockout counters, email verification) on first use, and closes all of it when the
// command ends. With app.ts, the only place that constructs stores.
import os from "node:os";
import { lockoutPolicy, createLockout } from "../abuse/lockout.ts";
import { openRateLimitStore } from "../abuse/rate-limit-store.ts";
import { createOperator, type Operator, type OperatorStores } from "../accounts/operator.ts";
import { argon2Params, createPasswordHasher } from "../accounts/passwords.ts";
import type { Config } from "../config.ts";
import { openDatabase } from "../db/connect.ts";
import type { Database, Queryable } from "../db/database.ts";
import { migrate } from "../db/migrate.ts";
import type { RateLimitStore } from "../store/rate-limits.ts";
import { storesOver } from "../store/stores.ts";
import { createEmailVerification, type EmailVerification } from "../accounts/email-verification.ts";
import { loadCookieKeys } from "../keys/cookie-keys.ts";
import { createSealer } from "../mail/seal.ts";
import { canSendMail } from "../mail/transports.ts";
import { createInvitations, type Invitations } from "../accounts/invitations.ts";
import { createWebhookEndpoints, WEBHOOK_SECRET_INFO, type WebhookEndpoints } from "../webhooks/endpoints.ts";
import { createUpstreamProviders, UPSTREAM_SECRET_INFO, type UpstreamProviders } from "../federation/upstream-providers.ts";
import { accountKey } from "../abuse/lockout.ts";
import { createSecurityNotices, type SecurityNotices } from "../accounts/security-notices.ts";
import { secondFactorReset } from "../accounts/second-factors.ts";
import { passkeyReset } from "../accounts/passkeys.ts";

/** A person's sign-in methods and state, for `idp users show`. */
export type CliSecondFactors = {
  show(userId: string, email: string): Promise<{ totp: "on" | "being set up" | "off"; recoveryCodesLeft: number; sessions: number; lastSignIn?: Date; lockedForSeconds?: number }>;
};

/** Where a command's output goes: the process's streams, or a test's buffers. */
export type CliOutput = { stdout: { write(text: string): unknown }; stderr: { write(text: string): unknown } };

export interface CliContext {
  readonly config: Config;
  /** One line on stdout. */
  out(line?: string): void;
  /** "idp: warning: <message>" on stderr. */
  warn(message: string): void;
  /** The database as it is: for `idp migrate` itself. */
  connect(): Promise<Database>;
  /** The database with pending migrations applied. */
  database(): Promise<Database>;
  /** The stores over the pool, for what a command only reads. */
  stores(): Promise<OperatorStores>;
  /** The operator actions, audited as the CLI run by this OS user. */
  operator(): Promise<Operator>;
  /**
   * Email verification links, queued in the outbox for a server's worker to send (this process
   * sends nothing). Throws when the configuration cannot send mail or KEYS_DIR has no cookie keys.
   */
  emailVerification(): Promise<EmailVerification>;
  /**
   * Invitations: listed and revoked over the database alone; an invitation's mail is queued in the
   * outbox for a server's worker, and sending one throws when SIGN_UP=off, when the configuration
   * cannot send mail, or when KEYS_DIR has no cookie keys.
   */
  invitations(): Promise<Invitations>;
  /**
   * Webhook endpoints, audited as the CLI run by this OS user. Adding one and testing one need the
   * server's cookie keys (KEYS_DIR): the secret is sealed with them, and the server opens it to sign.
   */
  webhooks(): Promise<WebhookEndpoints>;
  /** Upstream identity providers, audited as the CLI run by this OS user; a secret is sealed with KEYS_DIR's cookie keys. */
  upstreams(): Promise<UpstreamProviders>;
  /** Second factors (accounts/second-factors.ts): what a person has (the operator resets them). */
  secondFactors(): Promise<CliSecondFactors>;
}

/** The operator running the CLI, for the audit trail; undefined where the OS cannot say. */
export function osUserName(): string | undefined {
  try {
    return os.userInfo().username || undefined;
  } catch {
    return undefined;
  }
}

/** Runs fn with a context for config; whatever it opened is closed afterwards, on success or error. */
export async function withCliContext<T>(config: Config, output: CliOutput, fn: (ctx: CliContext) => Promise<T>): Promise<T> {
  const now = () => new Date();
  // Stores over a queryable: the pool for reads, a transaction's connection for a change and its
  // audit event (the operator asks for them inside each transaction).
  const storesOn = (queryable: Queryable) => storesOver(queryable, now);

  let opened: Promise<Database> | undefined;
  let migrated: Promise<Database> | undefined;
  let counters: Promise<RateLimitStore> | undefined;
  const connect = () => (opened ??= openDatabase(config));
  const database = () => (migrated ??= connect().then(async (db) => (await migrate(db), db)));

  /** The cookie keys of KEYS_DIR sealing mail for the server's worker, which opens it with the same keys. */
  const mailSealer = async () => {
    const cookieKeys = await loadCookieKeys(config.keysDir);
    if (!cookieKeys) {
      throw new Error(`no cookie keys in ${config.keysDir}: run this with the server's KEYS_DIR (mail is sealed with its cookie keys), or \`idp keys generate\` first`);
    }
    return createSealer(cookieKeys);
  };
  /**
   * "Your sign-in methods changed" notices, sealed with the server's cookie keys where this
   * configuration can send mail; the keys are read only when a notice is recorded.
   */
  let notices: Promise<SecurityNotices> | undefined;
  const securityNotices: Pick<SecurityNotices, "record"> = {
    async record(stores, notice) {
      notices ??= (async () => {
        const cookieKeys = canSendMail(config) ? await loadCookieKeys(config.keysDir) : undefined;
        return createSecurityNotices({ sealer: cookieKeys ? createSealer(cookieKeys) : undefined, defaultLocale: config.defaultLocale, now });
      })();
      return (await notices).record(stores, notice);
    },
  };

  const ctx: CliContext = {
    config,
    out: (line = "") => void output.stdout.write(line + "\n"),
    warn: (message) => void output.stderr.write(`idp: warning: ${message}\n`),
    connect,
    database,
    stores: async () => storesOn(await database()),
    async operator() {
      const db = await database();
      const osUser = osUserName();
      return createOperator({
        db,
        stores: storesOn,
        hasher: createPasswordHasher(argon2Params(config)),
        // The counters live in Redis when REDIS_URL is set: connected only for an unlock.
        lockout: async () => createLockout(await (counters ??= openRateLimitStore(config, db, now)), lockoutPolicy(config), now),
        actor: "cli",
        actorDetails: osUser ? { os_user: osUser } : undefined,
        keys: { config, now },
        // The same resets as the server's operator (app.ts): one implementation of `reset factors`.
        factorResets: [secondFactorReset(storesOn, securityNotices), passkeyReset(storesOn, securityNotices)],
      });
    },
    async emailVerification() {
      if (!canSendMail(config)) {
        throw new Error("this configuration cannot send mail (production without SMTP_URL): set SMTP_URL as the server has it, or use --verified");
      }
      const sealer = await mailSealer();
      return createEmailVerification({
        db: await database(),
        stores: storesOn,
        sealer,
        now,
      });
    },
    async webhooks() {
      const osUser = osUserName();
      return createWebhookEndpoints({
        db: await database(),
        stores: storesOn,
        async sealer() {
          const cookieKeys = await loadCookieKeys(config.keysDir);
          if (!cookieKeys) throw new Error(`no cookie keys in ${config.keysDir}: run this with the server's KEYS_DIR (webhook secrets are sealed with its cookie keys), or \`idp keys generate\` first`);
          return createSealer(cookieKeys, WEBHOOK_SECRET_INFO);
        },
        now,
        timeoutSeconds: config.webhookTimeoutSeconds,
        actor: "cli",
        actorDetails: osUser ? { os_user: osUser } : undefined,
      });
    },
    async upstreams() {
      const osUser = osUserName();
      return createUpstreamProviders({
        db: await database(),
        stores: storesOn,
        async sealer() {
          const cookieKeys = await loadCookieKeys(config.keysDir);
          if (!cookieKeys) throw new Error(`no cookie keys in ${config.keysDir}: run this with the server's KEYS_DIR (upstream secrets are sealed with its cookie keys), or \`idp keys generate\` first`);
          return createSealer(cookieKeys, UPSTREAM_SECRET_INFO);
        },
        production: config.production,
        issuer: config.issuer,
        actor: "cli",
        actorDetails: osUser ? { os_user: osUser } : undefined,
      });
    },
    async invitations() {
      return createInvitations({
        db: await database(),
        stores: storesOn,
        hasher: createPasswordHasher(argon2Params(config)),
        // Checked when an invitation is sent, not to list or revoke them.
        async sealer() {
          if (config.signUp === "off") throw new Error("SIGN_UP=off: add the user with `idp users add`, or set SIGN_UP=invite or open");
          if (!canSendMail(config)) throw new Error("this configuration cannot send mail (production without SMTP_URL): set SMTP_URL as the server has it, or add the user with `idp users add`");
          return mailSealer();
        },
        now,
      });
    },
    async secondFactors() {
      const db = await database();
      const stores = storesOn(db);
      return {
        async show(userId, email) {
          const [totp, recoveryCodesLeft, sessions] = await Promise.all([
            stores.secondFactors.findTotp(userId),
            stores.secondFactors.recoveryCodesLeft(userId),
            stores.payloads.listByAccountId("Session", userId),
          ]);
          const lockout = createLockout(await (counters ??= openRateLimitStore(config, db, now)), lockoutPolicy(config), now);
          const logins = sessions.map((session) => session.loginTs).filter((ts): ts is number => typeof ts === "number");
          return {
            totp: !totp ? "off" : totp.confirmedAt ? "on" : "being set up",
            recoveryCodesLeft,
            sessions: sessions.length,
            lastSignIn: logins.length ? new Date(Math.max(...logins) * 1000) : undefined,
            lockedForSeconds: await lockout.lockedFor(accountKey(email)),
          };
        },
      };
    },
  };

  try {
    return await fn(ctx);
  } finally {
    await (await counters?.catch(() => undefined))?.close();
    await (await opened?.catch(() => undefined))?.close();
  }
}
