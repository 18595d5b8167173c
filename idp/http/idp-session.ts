// The IdP's own pages (/account, /admin) sign people in through the IdP's own provider, as a
// built-in first-party client, so every factor, lockout and MFA policy applies to them as to any app.
//
// - The client ("idp-pages") is not stored in the clients table: it is given to oidc-provider as a
//   static client (static clients are found before the adapter), with redirect URIs derived from
//   ISSUER, and answered by the pages' client lookup as first-party (no consent step). So it exists
//   wherever the IdP runs, needs no migration, and `idp clients` can neither remove nor alter it.
// - The guard (requireIdpSession) sends a browser without a fresh enough page session to the
//   provider's /auth with PKCE, state and nonce, `max_age` for re-authentication and `acr_values`
//   for step-up. The callback exchanges the code at the provider's own token endpoint in-process
//   (app.inject: no network), so PKCE, redirect URI, expiry and single use are checked by
//   oidc-provider exactly as for every client; the ID token it answers never crossed a network, so
//   its claims (sub, amr, acr, auth_time, sid, nonce) are read as they are.
// - The page session is a signed (KEYS_DIR cookie keys), HttpOnly, SameSite=Lax cookie scoped to
//   its area's path. It names the provider session it came from (uid and this client's sid), and
//   each request checks that session still exists for the same person: signing out (here, at an
//   app, or everywhere) ends the page session too.
import { createHash, randomBytes } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest, InjectOptions } from "fastify";
import type { LightMyRequestResponse } from "fastify";
import type Provider from "oidc-provider";
import type { ClientMetadata } from "oidc-provider";
import { decodeJwt } from "jose";
import {
  acrOf,
  levelOfAcr,
  levelSatisfies,
  type AuthenticationLevel,
  type AuthenticationMethod,
} from "../accounts/authentication-methods.ts";
import type { Client, ClientStore } from "../store/clients.ts";
import { IdpError, idpErrors } from "../errors.ts";

/** The built-in client's id; `idp clients add` with this id would be shadowed by it. */
export const IDP_PAGES_CLIENT_ID = "idp-pages";

/** The areas of the IdP's own pages; each has its own page-session cookie and callback. */
export const IDP_PAGE_AREAS = ["/account", "/admin"] as const;
export type IdpPageArea = (typeof IDP_PAGE_AREAS)[number];

/** Where the provider sends the browser back to, in each area. */
export const CALLBACK_PATH = "/signed-in";

export type IdpPageSession = {
  accountId: string;
  amr: AuthenticationMethod[];
  acr: string;
  level: AuthenticationLevel;
  /** When the person last proved who they are (the ID token's auth_time). */
  authTime: Date;
  /** The provider session this page session belongs to (its uid). */
  sessionUid: string;
};

export type IdpSessionOptions = {
  /** The sign-in must be at most this old (re-authentication, with max_age). */
  maxAgeSeconds?: number;
  /** The sign-in must reach this level (step-up, with acr_values). */
  level?: "1fa" | "mfa";
  /** Where to come back to after signing in: a path in the area. Default: this GET request's URL, else the area's root. */
  returnTo?: string;
};

/**
 * The person signed in to the IdP's own pages, fresh and strong enough for `options`; or undefined
 * once it has sent the browser to sign in (the caller then returns the reply).
 */
export type RequireIdpSession = (request: FastifyRequest, reply: FastifyReply, options?: IdpSessionOptions) => Promise<IdpPageSession | undefined>;

type StoredSession = { a: string; amr: AuthenticationMethod[]; acr: string; at: number; su: string; sid: string; exp: number };
type PendingSignIn = { state: string; nonce: string; verifier: string; returnTo: string; maxAge?: number; level?: "1fa" | "mfa"; exp: number };

export type IdpSessionDeps = {
  issuer: string;
  provider: () => Provider;
  /** Runs a request against the app in-process (app.inject). */
  inject: (options: InjectOptions) => Promise<LightMyRequestResponse>;
  /** How long a page session lasts at most (the provider session may end it sooner). */
  sessionTtlSeconds: number;
  /** How long a started sign-in may take. */
  signInTtlSeconds: number;
  /** The email to prefill when the same person is asked again (re-authentication, step-up). */
  emailOf?: (accountId: string) => Promise<string | undefined>;
  now: () => Date;
};

const issuerOrigin = (issuer: string) => new URL(issuer).origin;
const redirectUri = (issuer: string, area: IdpPageArea) => `${issuerOrigin(issuer)}${area}${CALLBACK_PATH}`;
const sessionCookie = (area: IdpPageArea) => `idp${area.replace("/", "_")}`;
const pendingCookie = (area: IdpPageArea) => `idp${area.replace("/", "_")}_signin`;

/** The built-in client as oidc-provider sees it: public, PKCE, code only (no refresh token: the page session follows the IdP session). */
export function idpPagesClientMetadata(issuer: string): ClientMetadata {
  return {
    client_id: IDP_PAGES_CLIENT_ID,
    application_type: "web",
    token_endpoint_auth_method: "none",
    redirect_uris: IDP_PAGE_AREAS.map((area) => redirectUri(issuer, area)),
    grant_types: ["authorization_code"],
    response_types: ["code"],
    require_auth_time: true,
    first_party: true,
    service: false,
  };
}

/** The pages' client lookup, answering the built-in client too (first-party: no consent; named after the brand). */
export function withIdpPagesClient(lookup: Pick<ClientStore, "find">, options: { issuer: string; name: string }): Pick<ClientStore, "find"> {
  const builtIn: Client = {
    id: IDP_PAGES_CLIENT_ID,
    name: options.name,
    logoUri: null,
    secretHash: null,
    redirectUris: IDP_PAGE_AREAS.map((area) => redirectUri(options.issuer, area)),
    postLogoutRedirectUris: [],
    firstParty: true,
    service: false,
    kind: "web",
    requireMfa: false,
    // The admin console reads roles from the database at each request, not from a token.
    rolesClaim: false,
    scopes: [],
    createdAt: new Date(0),
  };
  return { find: (id) => (id === IDP_PAGES_CLIENT_ID ? Promise.resolve(builtIn) : lookup.find(id)) };
}

/** The area a path belongs to. */
export function areaOf(path: string): IdpPageArea | undefined {
  return IDP_PAGE_AREAS.find((area) => path === area || path.startsWith(`${area}/`) || path.startsWith(`${area}?`));
}

/** A return path inside the area (never another origin, never `//host`). */
function safeReturnTo(area: IdpPageArea, candidate: string | undefined): string {
  if (!candidate || !candidate.startsWith("/") || candidate.startsWith("//") || candidate.includes("\\")) return area;
  return areaOf(candidate) === area ? candidate : area;
}

const cookieOptions = (area: IdpPageArea) => ({ path: area, httpOnly: true, sameSite: "lax" as const, signed: true, secure: "auto" as const });

function readSigned<T>(request: FastifyRequest, name: string): T | undefined {
  const raw = request.cookies[name];
  if (!raw) return undefined;
  const unsigned = request.unsignCookie(raw);
  if (!unsigned.valid || unsigned.value === null) return undefined;
  try {
    return JSON.parse(Buffer.from(unsigned.value, "base64url").toString("utf8")) as T;
  } catch {
    return undefined;
  }
}
const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** A page saying the sign-in for these pages did not work out (cancelled, expired, too weak). */
const signInFailed = (detail: string, status = 400) =>
  new IdpError({ status, code: "access_denied", title: "idpSession.failed.title", message: { id: "idpSession.failed.message" }, detail });

export function createIdpSessions(deps: IdpSessionDeps) {
  const { issuer, now } = deps;
  const nowSeconds = () => Math.floor(now().getTime() / 1000);

  function satisfies(session: StoredSession, options: IdpSessionOptions): boolean {
    if (options.maxAgeSeconds !== undefined && nowSeconds() - session.at > options.maxAgeSeconds) return false;
    if (options.level) {
      const reached = levelOfAcr(issuer, session.acr) ?? "1fa";
      if (!levelSatisfies(reached, options.level)) return false;
    }
    return true;
  }

  const toPublic = (stored: StoredSession): IdpPageSession => ({
    accountId: stored.a,
    amr: stored.amr,
    acr: stored.acr,
    level: levelOfAcr(issuer, stored.acr) ?? "1fa",
    authTime: new Date(stored.at * 1000),
    sessionUid: stored.su,
  });

  /** The page session, when its cookie is valid and its provider session still exists for the same person. */
  async function current(request: FastifyRequest, area: IdpPageArea): Promise<StoredSession | undefined> {
    const stored = readSigned<StoredSession>(request, sessionCookie(area));
    if (!stored || typeof stored.exp !== "number" || stored.exp <= nowSeconds()) return undefined;
    const session = await deps.provider().Session.findByUid(stored.su);
    if (!session || session.accountId !== stored.a) return undefined;
    const authorization = (session.authorizations ?? {})[IDP_PAGES_CLIENT_ID];
    return authorization?.sid === stored.sid ? stored : undefined;
  }

  async function startSignIn(request: FastifyRequest, reply: FastifyReply, area: IdpPageArea, options: IdpSessionOptions, known?: StoredSession) {
    const verifier = randomBytes(32).toString("base64url");
    const pending: PendingSignIn = {
      state: randomBytes(16).toString("base64url"),
      nonce: randomBytes(16).toString("base64url"),
      verifier,
      returnTo: safeReturnTo(area, options.returnTo ?? (request.method === "GET" ? request.url : undefined)),
      maxAge: options.maxAgeSeconds,
      level: options.level,
      exp: nowSeconds() + deps.signInTtlSeconds,
    };
    reply.setCookie(pendingCookie(area), encode(pending), { ...cookieOptions(area), maxAge: deps.signInTtlSeconds });
    const params = new URLSearchParams({
      client_id: IDP_PAGES_CLIENT_ID,
      response_type: "code",
      scope: "openid",
      redirect_uri: redirectUri(issuer, area),
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: createHash("sha256").update(verifier).digest("base64url"),
      code_challenge_method: "S256",
    });
    if (options.maxAgeSeconds !== undefined) params.set("max_age", String(options.maxAgeSeconds));
    if (options.level) params.set("acr_values", acrOf(issuer, options.level));
    // Asked again (too old, or too weak): the same person, most likely.
    const email = known && deps.emailOf ? await deps.emailOf(known.a) : undefined;
    if (email) params.set("login_hint", email);
    return reply.redirect(`${issuer}/auth?${params}`, 303);
  }

  const requireIdpSession: RequireIdpSession = async (request, reply, options = {}) => {
    const area = areaOf(request.url);
    if (!area) throw new Error(`requireIdpSession used outside the IdP's page areas: ${request.url}`);
    const stored = await current(request, area);
    if (stored && satisfies(stored, options)) return toPublic(stored);
    if (!stored) reply.clearCookie(sessionCookie(area), { path: area });
    await startSignIn(request, reply, area, options, stored);
    return undefined;
  };

  /** Exchanges the code at the provider's token endpoint, in-process. */
  async function exchange(request: FastifyRequest, area: IdpPageArea, code: string, verifier: string) {
    const response = await deps.inject({
      method: "POST",
      url: `${new URL(issuer).pathname.replace(/\/$/, "")}/token`,
      headers: { host: new URL(issuer).host, "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      remoteAddress: request.ip,
      payload: new URLSearchParams({
        grant_type: "authorization_code",
        code,
        redirect_uri: redirectUri(issuer, area),
        client_id: IDP_PAGES_CLIENT_ID,
        code_verifier: verifier,
      }).toString(),
    });
    if (response.statusCode !== 200) throw signInFailed(`token exchange answered ${response.statusCode}: ${response.body.slice(0, 200)}`);
    return response.json() as { id_token: string; access_token: string };
  }

  async function callback(
    request: FastifyRequest<{ Querystring: { code?: string; state?: string; error?: string } }>,
    reply: FastifyReply,
    area: IdpPageArea,
  ) {
    const pending = readSigned<PendingSignIn>(request, pendingCookie(area));
    reply.clearCookie(pendingCookie(area), { path: area });
    const { code, state, error } = request.query;
    if (!pending || pending.exp <= nowSeconds() || !state || state !== pending.state) {
      throw idpErrors.interactionExpired("no pending sign-in to the IdP's pages with this state in this browser");
    }
    if (error || !code) throw signInFailed(`the provider answered ${error ?? "without a code"}`);
    const tokens = await exchange(request, area, code, pending.verifier);
    const claims = decodeJwt(tokens.id_token);
    if (claims.nonce !== pending.nonce || typeof claims.sub !== "string" || typeof claims.sid !== "string" || typeof claims.auth_time !== "number") {
      throw signInFailed("the ID token does not match this sign-in");
    }
    // The access token is not used; it only tells which provider session this sign-in was made in.
    const accessToken = await deps.provider().AccessToken.find(tokens.access_token);
    if (!accessToken?.sessionUid) throw signInFailed("no provider session behind this sign-in");
    await accessToken.destroy();
    const stored: StoredSession = {
      a: claims.sub,
      amr: Array.isArray(claims.amr) ? (claims.amr as AuthenticationMethod[]) : [],
      acr: typeof claims.acr === "string" ? claims.acr : acrOf(issuer, "1fa"),
      at: claims.auth_time,
      su: accessToken.sessionUid,
      sid: claims.sid,
      exp: nowSeconds() + deps.sessionTtlSeconds,
    };
    reply.setCookie(sessionCookie(area), encode(stored), cookieOptions(area));
    // What was asked for was not reached (a factor not offered, or the provider kept an old sign-in):
    // say so rather than send the browser round again.
    if (!satisfies(stored, { maxAgeSeconds: pending.maxAge, level: pending.level })) {
      throw signInFailed("the sign-in did not reach the level or freshness asked for", 403);
    }
    return reply.redirect(safeReturnTo(area, pending.returnTo), 303);
  }

  return {
    requireIdpSession,

    /** Ends the page session in this browser (the provider session is the caller's business). */
    endPageSession(reply: FastifyReply, area: IdpPageArea) {
      reply.clearCookie(sessionCookie(area), { path: area });
    },

    /** The callback route of every area. */
    routes(app: FastifyInstance) {
      const querystring = {
        type: "object",
        properties: {
          code: { type: "string", maxLength: 200 },
          state: { type: "string", maxLength: 100 },
          error: { type: "string", maxLength: 100 },
          error_description: { type: "string", maxLength: 1000 },
          iss: { type: "string", maxLength: 1000 },
        },
      } as const;
      for (const area of IDP_PAGE_AREAS) {
        app.get<{ Querystring: { code?: string; state?: string; error?: string } }>(`${area}${CALLBACK_PATH}`, { schema: { querystring } }, (request, reply) =>
          callback(request, reply, area),
        );
      }
    },
  };
}

export type IdpSessions = ReturnType<typeof createIdpSessions>;
