// oidc-provider's storage adapter: a thin mapping of its models onto the store. Clients come from
// the clients table; every other model is a row in oidc_payloads.
import { errors, type Adapter, type AdapterPayload } from "oidc-provider";
import type { ClientStore, Client } from "../store/clients.ts";
import type { OidcPayloadStore } from "../store/oidc-payloads.ts";
import { currentUnitOfWork } from "./token-unit-of-work.ts";

export type AdapterOptions = {
  payloads: OidcPayloadStore;
  clients: Pick<ClientStore, "find">;
  refreshTokenReuseGraceSeconds: number;
  now: () => Date;
};

/** The metadata oidc-provider validates for a client row. */
export function clientMetadata(client: Client): AdapterPayload {
  if (client.service) {
    return {
      client_id: client.id,
      ...(client.name ? { client_name: client.name } : {}),
      client_secret: client.secretHash!,
      token_endpoint_auth_method: "client_secret_basic",
      redirect_uris: [],
      grant_types: ["client_credentials"],
      response_types: [],
      service: true,
      // What its tokens may do in the admin API (oidc/service-tokens.ts grants them).
      service_scopes: client.scopes,
    };
  }
  if (client.kind === "device") {
    // RFC 8628: a public client that never sees a browser redirect; oidc-provider's kind for it is native.
    return {
      client_id: client.id,
      ...(client.name ? { client_name: client.name } : {}),
      application_type: "native",
      token_endpoint_auth_method: "none",
      redirect_uris: [],
      grant_types: ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
      response_types: [],
      require_auth_time: true,
      first_party: client.firstParty,
      service: false,
      roles_claim: client.rolesClaim,
    };
  }
  return {
    client_id: client.id,
    ...(client.name ? { client_name: client.name } : {}),
    // native (RFC 8252): oidc-provider then admits private-use schemes and loopback ports (provider.ts narrows the latter).
    application_type: client.kind === "native" ? "native" : "web",
    // The stored value is a hash; the provider's secret comparison is replaced to match (see provider.ts).
    ...(client.secretHash ? { client_secret: client.secretHash } : {}),
    token_endpoint_auth_method: client.secretHash ? "client_secret_basic" : "none",
    redirect_uris: client.redirectUris,
    post_logout_redirect_uris: client.postLogoutRedirectUris,
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    require_auth_time: true,
    first_party: client.firstParty,
    service: false,
    roles_claim: client.rolesClaim,
  };
}

/** The provider's view of a stored row: the payload, with `consumed` but not the store's Date. */
function withoutConsumedAt(found: (Record<string, unknown> & { consumedAt?: Date }) | undefined): AdapterPayload | undefined {
  if (!found) return undefined;
  const { consumedAt: _consumedAt, ...payload } = found;
  return payload as AdapterPayload;
}

/**
 * PostgreSQL text and jsonb cannot hold NUL, and no OAuth parameter may contain one (RFC 6749
 * appendix A): a key with NUL names nothing stored, and a payload with NUL is the client's invalid
 * request, answered as such instead of failing in the database as a server error.
 */
const hasNul = (value: string) => value.includes("\u0000");
const containsNul = (value: unknown): boolean =>
  typeof value === "string"
    ? hasNul(value)
    : typeof value === "object" && value !== null && Object.entries(value).some(([key, inner]) => hasNul(key) || containsNul(inner));

const EXPIRED_DEVICE_CODE_KEPT_SECONDS = 600;

// oidc-provider's token endpoint finds one of these first, then its grant and (for a token that
// ends with the session) the session: one query reads all three (see findStored).
const GRANT_SOURCES = new Set(["AuthorizationCode", "RefreshToken"]);

export function createAdapterClass(options: AdapterOptions): new (model: string) => Adapter {
  const { payloads, clients, refreshTokenReuseGraceSeconds, now } = options;

  /**
   * find() of the store, except inside a token request: there a grant source also reads ahead the
   * rows the provider asks for next, and those lookups are answered from the request's unit of
   * work without a query. Nothing read ahead outlives the request.
   */
  const findStored = async (model: string, id: string) => {
    const unit = currentUnitOfWork();
    if (!unit) return payloads.find(model, id);
    const prefetched = unit.takePrefetched(model, "id", id);
    if (prefetched) return prefetched.found;
    if (!GRANT_SOURCES.has(model)) return payloads.find(model, id);
    const { source, grant, session } = await payloads.findGrantSource(model, id);
    if (grant) unit.prefetch("Grant", "id", grant.id, grant.found);
    if (session) unit.prefetch("Session", "uid", session.uid, session.found);
    return source;
  };

  return class PostgresAdapter implements Adapter {
    readonly model: string;

    constructor(model: string) {
      this.model = model;
    }

    async upsert(id: string, payload: AdapterPayload, lifetime: number): Promise<void> {
      if (this.model === "Client") throw new Error("clients are managed with `idp clients`, not through the provider");
      if (hasNul(id) || containsNul(payload)) throw new errors.InvalidRequest("parameters must not contain NUL characters");
      // An expired device code must still be found, so that the device polling it hears
      // expired_token (RFC 8628 3.5) rather than invalid_grant: kept ten minutes past its expiry.
      const expiresIn = this.model === "DeviceCode" && lifetime ? lifetime + EXPIRED_DEVICE_CODE_KEPT_SECONDS : lifetime;
      const unit = currentUnitOfWork();
      if (unit) unit.collect({ kind: "upsert", model: this.model, id, payload, expiresIn });
      else await payloads.upsert(this.model, id, payload, expiresIn);
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (hasNul(id)) return undefined;
      if (this.model === "Client") {
        const client = await clients.find(id);
        return client && clientMetadata(client);
      }
      const found = await findStored(this.model, id);
      if (!found) return undefined;
      const { consumedAt, ...payload } = found;
      // A rotated refresh token replayed within the grace window is presented to the provider as
      // unconsumed: the provider then tries to consume it, consume() below refuses, and the request
      // fails without revoking the grant. Later replays reach the provider as consumed, which revokes it.
      if (this.model === "RefreshToken" && consumedAt && now().getTime() - consumedAt.getTime() < refreshTokenReuseGraceSeconds * 1000) {
        delete payload.consumed;
      }
      return payload as AdapterPayload;
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      if (hasNul(userCode)) return undefined;
      return withoutConsumedAt(await payloads.findByUserCode(this.model, userCode));
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      if (hasNul(uid)) return undefined;
      const prefetched = currentUnitOfWork()?.takePrefetched(this.model, "uid", uid);
      return withoutConsumedAt(prefetched ? prefetched.found : await payloads.findByUid(this.model, uid));
    }

    async consume(id: string): Promise<void> {
      const unit = currentUnitOfWork();
      if (unit) {
        unit.collect({ kind: "consume", model: this.model, id });
        return;
      }
      // Exactly one caller consumes a code or refresh token; a concurrent second one is refused.
      if (!(await payloads.consume(this.model, id))) {
        throw new errors.InvalidGrant(`${this.model === "RefreshToken" ? "refresh token" : "grant"} already used`);
      }
    }

    async destroy(id: string): Promise<void> {
      if (hasNul(id)) return;
      currentUnitOfWork()?.forgetPrefetched();
      await payloads.destroy(this.model, id);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      if (hasNul(grantId)) return;
      currentUnitOfWork()?.forgetPrefetched();
      await payloads.revokeByGrantId(grantId);
    }
  };
}
