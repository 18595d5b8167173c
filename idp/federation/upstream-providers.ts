// The operator's upstream identity providers (`idp upstreams add|list|remove|disable`): input and
// presets (Google, Microsoft, Apple, GitHub) validated here, the secret sealed, each change written
// with its audit event in one transaction.
import type { Database, Queryable } from "../db/database.ts";
import { InvalidInputError } from "../accounts/operator.ts";
import type { Sealer } from "../mail/seal.ts";
import type { AuditStore } from "../store/audit.ts";
import type { UpstreamKind, UpstreamProvider, UpstreamStore } from "../store/upstreams.ts";

/** The HKDF info that makes the upstream secrets' sealing key differ from the mail's and the webhooks' (same cookie keys). */
export const UPSTREAM_SECRET_INFO = "convex-idp upstream secrets v1";

/** Where every upstream sends the browser back: one fixed URI, registered at each provider. */
export const UPSTREAM_CALLBACK_PATH = "/upstream/callback";

export const redirectUriFor = (issuer: string) => new URL(UPSTREAM_CALLBACK_PATH, issuer).href;

export type Preset = "google" | "microsoft" | "apple" | "github";
export const PRESETS: readonly Preset[] = ["google", "microsoft", "apple", "github"];

/** What a preset fills in; the operator's flags win. */
const PRESET_DEFAULTS: Record<Preset, { kind: UpstreamKind; issuer: string; scopes: string; name: string }> = {
  google: { kind: "google", issuer: "https://accounts.google.com", scopes: "openid email profile", name: "Google" },
  // Entra ID, multi-tenant: discovery names the issuer https://login.microsoftonline.com/{tenantid}/v2.0,
  // and openid-client checks each ID token's iss against it with the token's own tid.
  microsoft: { kind: "microsoft", issuer: "https://login.microsoftonline.com/common/v2.0", scopes: "openid email profile", name: "Microsoft" },
  apple: { kind: "apple", issuer: "https://appleid.apple.com", scopes: "openid email name", name: "Apple" },
  github: { kind: "github", issuer: "https://github.com", scopes: "read:user user:email", name: "GitHub" },
};

export type AddUpstreamInput = {
  id: string;
  preset?: string;
  issuer?: string;
  clientId: string;
  /** The client secret; for Apple, the PEM private key its client secret JWTs are signed with. */
  secret?: string;
  scopes?: string;
  name?: string;
  trustEmail?: boolean;
  allowSignUp?: boolean;
  emailDomains?: string[];
  /** Microsoft: a tenant instead of every organisation's (common). */
  tenant?: string;
  /** Apple: the team id and the key id of the private key. */
  teamId?: string;
  keyId?: string;
};

const ID = /^[a-z0-9][a-z0-9-]{0,31}$/;
const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** An issuer: https, or (not in production) http or a loopback host; no credentials, query or fragment. */
export function validateIssuer(given: string, production: boolean): string {
  let url: URL;
  try {
    url = new URL(given.trim());
  } catch {
    throw new InvalidInputError(`"${given}" is not an absolute URL`);
  }
  if (url.username || url.password || url.search || url.hash) throw new InvalidInputError("an issuer has no user name, password, query or fragment");
  const insecureAllowed = !production && (url.protocol === "http:" || LOOPBACK.has(url.hostname));
  if (url.protocol !== "https:" && !insecureAllowed) {
    throw new InvalidInputError(`issuer "${given}" must use https${production ? " in production" : ""}`);
  }
  // As the provider publishes it: no trailing slash added to a path.
  return given.trim().replace(/\/$/, "");
}

export function validateEmailDomains(given: string[] | undefined): string[] {
  const domains = [...new Set((given ?? []).flatMap((entry) => entry.split(",")).map((domain) => domain.trim().toLowerCase().replace(/^@/, "")).filter(Boolean))];
  const bad = domains.filter((domain) => !DOMAIN.test(domain));
  if (bad.length > 0) throw new InvalidInputError(`not a domain: ${bad.join(", ")}`);
  return domains;
}

export type UpstreamProvidersDeps = {
  db: Database;
  stores: (queryable: Queryable) => { upstreams: UpstreamStore; audit: AuditStore };
  /** Seals client secrets (createSealer(cookieKeys, UPSTREAM_SECRET_INFO)); asked for only when one is stored. */
  sealer: () => Promise<Sealer>;
  production: boolean;
  /** Our issuer: the redirect URI to register is on its origin. */
  issuer: string;
  actor?: string;
  actorDetails?: Record<string, string>;
};

export function createUpstreamProviders(deps: UpstreamProvidersDeps) {
  const { db, stores } = deps;
  const actor = deps.actor ?? "cli";
  const details = (more: Record<string, string>) => ({ ...deps.actorDetails, ...more });

  async function changeEnabled(id: string, enabled: boolean) {
    await db.transaction(async (tx) => {
      const { upstreams, audit } = stores(tx);
      if (!(await upstreams.setProviderEnabled(id, enabled))) throw new InvalidInputError(`no upstream provider ${id}`);
      await audit.record({ event: enabled ? "upstream.enabled" : "upstream.disabled", actor, details: details({ upstream: id }) });
    });
  }

  return {
    redirectUri: redirectUriFor(deps.issuer),

    /** Adds a provider; returns it with the redirect URI to register at the provider. */
    async add(input: AddUpstreamInput): Promise<{ provider: UpstreamProvider; redirectUri: string }> {
      if (!ID.test(input.id)) throw new InvalidInputError(`"${input.id}" is not a valid id: lower-case letters, digits and -, at most 32`);
      if (input.preset !== undefined && !PRESETS.includes(input.preset as Preset)) throw new InvalidInputError(`unknown preset "${input.preset}": choose from ${PRESETS.join(", ")}`);
      const preset = input.preset ? PRESET_DEFAULTS[input.preset as Preset] : undefined;
      if (!preset && !input.issuer) throw new InvalidInputError("--issuer is required without --preset");
      const clientId = input.clientId.trim();
      if (!clientId || clientId.length > 512) throw new InvalidInputError("--client-id is required");
      let issuer = input.issuer ?? preset!.issuer;
      if (input.tenant !== undefined) {
        if (preset?.kind !== "microsoft") throw new InvalidInputError("--tenant is for --preset microsoft");
        if (!/^[A-Za-z0-9.-]{1,100}$/.test(input.tenant)) throw new InvalidInputError(`"${input.tenant}" is not a tenant id or domain`);
        issuer = `https://login.microsoftonline.com/${input.tenant}/v2.0`;
      }
      issuer = validateIssuer(issuer, deps.production);
      const options: Record<string, string> = {};
      if (preset?.kind === "apple") {
        if (!input.teamId || !input.keyId) throw new InvalidInputError("--preset apple needs --team-id and --key-id (the secret read is the key's PEM)");
        if (!input.secret?.includes("PRIVATE KEY")) throw new InvalidInputError("--preset apple reads the private key (.p8, PEM) as its secret");
        options.teamId = input.teamId;
        options.keyId = input.keyId;
      } else if (input.teamId || input.keyId) {
        throw new InvalidInputError("--team-id and --key-id are for --preset apple");
      }
      if (preset?.kind === "github" && !input.secret) throw new InvalidInputError("GitHub needs the client secret");
      const scopes = (input.scopes ?? preset?.scopes ?? "openid email profile").split(/[\s,]+/).filter(Boolean).join(" ");
      if (preset?.kind !== "github" && !scopes.split(" ").includes("openid")) throw new InvalidInputError("--scopes must include openid");
      const displayName = (input.name ?? preset?.name ?? input.id).trim();
      if (!displayName || displayName.length > 80) throw new InvalidInputError("--name must be 1 to 80 characters");
      const emailDomains = validateEmailDomains(input.emailDomains);
      const secret = input.secret ? (await deps.sealer()).seal({ secret: input.secret }) : null;
      const provider = await db.transaction(async (tx) => {
        const { upstreams, audit } = stores(tx);
        const added = await upstreams.addProvider({
          id: input.id,
          kind: preset?.kind ?? "oidc",
          issuer,
          clientId,
          clientSecret: secret,
          scopes,
          displayName,
          trustEmail: input.trustEmail ?? false,
          allowSignUp: input.allowSignUp ?? false,
          emailDomains,
          options,
        });
        await audit.record({
          event: "upstream.added",
          actor,
          details: details({ upstream: added.id, issuer, trust_email: String(added.trustEmail), allow_sign_up: String(added.allowSignUp) }),
        });
        return added;
      });
      return { provider, redirectUri: redirectUriFor(deps.issuer) };
    },

    list: () => stores(db).upstreams.listProviders(),

    /** Removes a provider; the identities linked through it stay (they name the person if it comes back). */
    async remove(id: string): Promise<void> {
      await db.transaction(async (tx) => {
        const { upstreams, audit } = stores(tx);
        if (!(await upstreams.removeProvider(id))) throw new InvalidInputError(`no upstream provider ${id}`);
        await audit.record({ event: "upstream.removed", actor, details: details({ upstream: id }) });
      });
    },

    disable: (id: string) => changeEnabled(id, false),
    enable: (id: string) => changeEnabled(id, true),
  };
}

export type UpstreamProviders = ReturnType<typeof createUpstreamProviders>;
