// Every store over one queryable (the pool, or the connection of a transaction), on one clock:
// what the composition roots (app.ts, cli/context.ts) hand to accounts/ as its `stores` factory, so
// a change and its audit event can be written in one transaction.
import type { Queryable } from "../db/database.ts";
import { createAuditStore } from "./audit.ts";
import { createClientStore } from "./clients.ts";
import { createInvitationStore } from "./invitations.ts";
import { createMailOutboxStore } from "./mail-outbox.ts";
import { createOidcPayloadStore } from "./oidc-payloads.ts";
import { createOneTimeCodeStore } from "./one-time-codes.ts";
import { createPasskeyStore } from "./passkeys.ts";
import { createOneTimeTokenStore } from "./one-time-tokens.ts";
import { createUserStore } from "./users.ts";
import { createWebhookStore } from "./webhooks.ts";
import { createUpstreamStore } from "./upstreams.ts";
import { createSecondFactorStore } from "./second-factors.ts";

export function storesOver(queryable: Queryable, now: () => Date) {
  return {
    users: createUserStore(queryable),
    clients: createClientStore(queryable),
    payloads: createOidcPayloadStore(queryable, now),
    audit: createAuditStore(queryable, now),
    outbox: createMailOutboxStore(queryable, now),
    tokens: createOneTimeTokenStore(queryable, now),
    codes: createOneTimeCodeStore(queryable, now),
    invitations: createInvitationStore(queryable, now),
    webhooks: createWebhookStore(queryable, now),
    upstreams: createUpstreamStore(queryable, now),
    secondFactors: createSecondFactorStore(queryable, now),
    passkeys: createPasskeyStore(queryable, now),
  };
}

export type Stores = ReturnType<typeof storesOver>;
