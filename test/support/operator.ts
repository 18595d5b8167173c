// The operator actions over a test's database, wired as the CLI's root wires them (one store factory
// for the pool and for each transaction; the lockout counters opened on first use), with the hasher,
// clock and actor a test chooses. Tests may build stores; the IdP builds them only in its two roots.
import { createLockout, lockoutPolicy } from "../../idp/abuse/lockout.ts";
import { openRateLimitStore } from "../../idp/abuse/rate-limit-store.ts";
import { createOperator, type Operator, type OperatorStores } from "../../idp/accounts/operator.ts";
import { argon2Params, createPasswordHasher, type PasswordHasher } from "../../idp/accounts/passwords.ts";
import { loadConfig, type Config } from "../../idp/config.ts";
import type { Database, Queryable } from "../../idp/db/database.ts";
import type { RateLimitStore } from "../../idp/store/rate-limits.ts";
import { createAuditStore } from "../../idp/store/audit.ts";
import { createClientStore, type ClientStore } from "../../idp/store/clients.ts";
import { createOidcPayloadStore } from "../../idp/store/oidc-payloads.ts";
import { createUserStore, type UserStore } from "../../idp/store/users.ts";
import { createWebhookStore } from "../../idp/store/webhooks.ts";

/** The operator, plus the user and client stores over the pool for what a test checks or arranges unaudited. */
export type TestOperator = Operator & {
  users: UserStore;
  clients: ClientStore;
  /** Closes the lockout counters if an unlock opened them (the database is the test's to close). */
  close(): Promise<void>;
};

export type TestOperatorOptions = {
  /** Default: the configuration's argon2 parameters. */
  hasher?: Pick<PasswordHasher, "hash">;
  /** The clock of audit events and oidc payloads. */
  now?: () => Date;
  actorDetails?: Record<string, string>;
  /** Where the lockout counters live and their policy; default the development configuration. */
  config?: Config;
};

export function testStores(now: () => Date = () => new Date()): (queryable: Queryable) => OperatorStores {
  return (queryable) => ({
    users: createUserStore(queryable),
    clients: createClientStore(queryable),
    payloads: createOidcPayloadStore(queryable, now),
    audit: createAuditStore(queryable, now),
    webhooks: createWebhookStore(queryable, now),
  });
}

export function createTestOperator(db: Database, options: TestOperatorOptions = {}): TestOperator {
  const now = options.now ?? (() => new Date());
  const config = options.config ?? loadConfig({});
  const stores = testStores(now);
  let counters: Promise<RateLimitStore> | undefined;
  const operator = createOperator({
    db,
    stores,
    hasher: options.hasher ?? createPasswordHasher(argon2Params(config)),
    lockout: async () => createLockout(await (counters ??= openRateLimitStore(config, db, now)), lockoutPolicy(config), now),
    actor: "cli",
    actorDetails: options.actorDetails,
  });
  const { users, clients } = stores(db);
  return {
    ...operator,
    users,
    clients,
    async close() {
      await (await counters)?.close();
    },
  };
}
