// A short-lived in-process cache of client rows for the provider's and the sign-in pages' lookups.
// Every token request and sign-in page looks its client up, and clients change rarely (`idp clients
// add/remove` from the CLI, possibly on another machine), so a few seconds of staleness buys one
// database round trip per request.
// Only clients that exist are cached: a client added by the CLI is usable at once everywhere.
import type { Client, ClientStore } from "../store/clients.ts";

/** More distinct clients than any deployment registers; a flood of made-up ids never gets cached anyway. */
const MAX_CLIENTS = 1000;

export function cachedClientLookup(clients: Pick<ClientStore, "find">, ttlSeconds: number, now: () => Date): Pick<ClientStore, "find"> {
  if (ttlSeconds <= 0) return clients;
  const entries = new Map<string, { client: Client; expiresAt: number }>();
  // Concurrent lookups of one client share a query.
  const pending = new Map<string, Promise<Client | undefined>>();

  async function load(id: string): Promise<Client | undefined> {
    try {
      const client = await clients.find(id);
      if (client) {
        if (entries.size >= MAX_CLIENTS) entries.delete(entries.keys().next().value!);
        entries.set(id, { client, expiresAt: now().getTime() + ttlSeconds * 1000 });
      }
      return client;
    } finally {
      pending.delete(id);
    }
  }

  return {
    find(id) {
      const cached = entries.get(id);
      if (cached && cached.expiresAt > now().getTime()) return Promise.resolve(cached.client);
      if (cached) entries.delete(id);
      let lookup = pending.get(id);
      if (!lookup) {
        lookup = load(id);
        pending.set(id, lookup);
      }
      return lookup;
    },
  };
}
