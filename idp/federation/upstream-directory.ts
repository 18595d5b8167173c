// The enabled upstream providers as the sign-in page needs them, synchronously: their buttons and
// the email domains that go straight to one (home-realm discovery). Read from the database at most
// once per TTL, before an interaction's request is handled, so `idp upstreams` changes made by
// another process show within that time. A read that fails keeps the last list.
import type { UpstreamProvider, UpstreamStore } from "../store/upstreams.ts";

export type UpstreamDirectoryDeps = {
  upstreams: Pick<UpstreamStore, "listProviders">;
  ttlSeconds: number;
  now: () => Date;
  onError: (error: unknown) => void;
};

export function createUpstreamDirectory(deps: UpstreamDirectoryDeps) {
  let enabled: UpstreamProvider[] = [];
  let loadedAt = Number.NEGATIVE_INFINITY;
  let loading: Promise<void> | undefined;

  return {
    /** Reads the providers again when the list is older than the TTL (one read for concurrent callers). */
    async refresh(): Promise<void> {
      if (deps.now().getTime() - loadedAt < deps.ttlSeconds * 1000) return;
      loading ??= deps.upstreams
        .listProviders()
        .then((all) => {
          enabled = all.filter((provider) => provider.enabled);
          loadedAt = deps.now().getTime();
        })
        .catch(deps.onError)
        .finally(() => (loading = undefined));
      await loading;
    },

    /** The buttons of the sign-in page, by id. */
    offered: (): { id: string; name: string }[] => enabled.map((provider) => ({ id: provider.id, name: provider.displayName })),

    /** The provider an email's domain signs in at, if any (the first by id when two claim it). */
    forEmail(email: string): string | undefined {
      const domain = email.trim().toLowerCase().split("@").at(-1);
      if (!domain || !email.includes("@")) return undefined;
      return enabled.find((provider) => provider.emailDomains.includes(domain))?.id;
    },
  };
}

export type UpstreamDirectory = ReturnType<typeof createUpstreamDirectory>;
