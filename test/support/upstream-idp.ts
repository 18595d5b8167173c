// Real upstreams for the federation tests, none of them our code: a second OpenID Connect provider
// (node-oidc-provider with its own in-memory accounts and its development login and consent pages,
// where any login name with any password signs in as that account), optionally behind a proxy that
// tampers like an attacker would; and a stand-in speaking GitHub's OAuth 2 and REST API shape.
import { createHash, randomBytes, type KeyObject } from "node:crypto";
import { jwtVerify } from "jose";
import http from "node:http";
import type { AddressInfo } from "node:net";
import Provider from "oidc-provider";

export type UpstreamAccount = { email?: string; email_verified?: boolean; name?: string; picture?: string };

export type UpstreamIdp = {
  /** The issuer to configure at our IdP (the proxy's, when tampering). */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Accounts by login name (the `sub`); add one before signing in with it. */
  accounts: Map<string, UpstreamAccount>;
  close(): Promise<void>;
};

/**
 * What the proxy in front of the provider does:
 * - nonce: passes everything through but replaces the nonce of each authorization request, so the
 *   ID token comes back with a nonce the relying party never sent;
 * - issuer: publishes discovery under its own URL (the provider's endpoints unchanged), so the ID
 *   token comes from an issuer other than the one configured;
 * - apple: not tampering but Apple's shape: the token request's client secret must be an ES256 JWT
 *   (iss the team id, sub the client id, aud https://appleid.apple.com, kid the key id) that the
 *   Apple key pair's public half verifies; the proxy then hands the provider its real secret.
 */
export type Tamper = "nonce" | "issuer" | "apple";

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function stop(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

const readBody = async (request: http.IncomingMessage) => {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
};

export type AppleKey = { teamId: string; keyId: string; publicKey: KeyObject };

export async function startUpstreamIdp(options: { redirectUri: string; tamper?: Tamper; apple?: AppleKey }): Promise<UpstreamIdp> {
  const accounts = new Map<string, UpstreamAccount>();
  const clientId = "our-idp";
  const clientSecret = randomBytes(16).toString("hex");
  const real = http.createServer();
  const realUrl = await listen(real);
  const proxy = options.tamper ? http.createServer() : undefined;
  const proxyUrl = proxy ? await listen(proxy) : undefined;
  // Behind the proxy the provider is reached at the proxy's URL; tampering with the issuer, it signs as another one.
  const providerIssuer = options.tamper === "issuer" ? "http://127.0.0.1:9/another-issuer" : (proxyUrl ?? realUrl);

  const provider = new Provider(providerIssuer, {
    clients: [{ client_id: clientId, client_secret: clientSecret, redirect_uris: [options.redirectUri], grant_types: ["authorization_code"], response_types: ["code"] }],
    findAccount: (_ctx, id) => {
      const account = accounts.get(id);
      return account ? { accountId: id, claims: () => ({ sub: id, ...account }) } : undefined;
    },
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name", "picture"] },
    features: { devInteractions: { enabled: true } },
    cookies: { keys: [randomBytes(16).toString("hex")] },
    pkce: { required: () => true },
  });
  provider.on("server_error", (_ctx, error) => console.error("upstream server_error", error));
  const handle = provider.callback();
  real.on("request", handle);

  // A transparent proxy (the Host kept, so the provider builds its URLs on the proxy's) that tampers.
  proxy?.on("request", async (request, response) => {
    const url = new URL(request.url!, proxyUrl);
    if (options.tamper === "issuer" && url.pathname === "/.well-known/openid-configuration") {
      const document = await new Promise<Record<string, unknown>>((resolve, reject) => {
        http.get(`${realUrl}${url.pathname}`, { headers: { host: new URL(proxyUrl!).host } }, async (answer) => resolve(JSON.parse((await readBody(answer)).toString("utf8")))).on("error", reject);
      });
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ...document, issuer: proxyUrl }));
      return;
    }
    if (options.tamper === "nonce" && url.pathname === "/auth" && url.searchParams.has("nonce")) url.searchParams.set("nonce", "not-the-relying-partys-nonce");
    if (options.tamper === "apple" && url.pathname === "/token" && request.method === "POST") {
      const form = new URLSearchParams((await readBody(request)).toString("utf8"));
      try {
        const { payload, protectedHeader } = await jwtVerify(form.get("client_secret") ?? "", options.apple!.publicKey, {
          algorithms: ["ES256"],
          issuer: options.apple!.teamId,
          subject: clientId,
          audience: "https://appleid.apple.com",
        });
        if (protectedHeader.kid !== options.apple!.keyId || typeof payload.exp !== "number") throw new Error("kid or exp");
      } catch {
        response.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ error: "invalid_client" }));
        return;
      }
      form.set("client_secret", clientSecret);
      const body = form.toString();
      const forwarded = http.request(`${realUrl}/token`, { method: "POST", headers: { ...request.headers, "content-length": String(Buffer.byteLength(body)) } }, (answer) => {
        response.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(response);
      });
      forwarded.end(body);
      return;
    }
    const forwarded = http.request(`${realUrl}${url.pathname}${url.search}`, { method: request.method, headers: request.headers }, (answer) => {
      const headers = { ...answer.headers };
      // Without the iss parameter (RFC 9207) the relying party meets the other issuer in the ID token itself.
      if (options.tamper === "issuer" && typeof headers.location === "string" && headers.location.startsWith(options.redirectUri)) {
        const location = new URL(headers.location);
        location.searchParams.delete("iss");
        headers.location = location.href;
      }
      response.writeHead(answer.statusCode!, headers);
      answer.pipe(response);
    });
    request.pipe(forwarded);
  });

  return {
    issuer: proxyUrl ?? realUrl,
    clientId,
    clientSecret,
    accounts,
    async close() {
      if (proxy) await stop(proxy);
      await stop(real);
    },
  };
}

export type GitHubUser = { id: number; login: string; name?: string; avatar_url?: string; emails: { email: string; primary: boolean; verified: boolean }[] };

export type GitHubStandIn = {
  /** As GitHub Enterprise Server is configured: the web host; the API is under /api/v3. */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Who "signs in" at the authorization page next. */
  signInAs(user: GitHubUser): void;
  close(): Promise<void>;
};

/**
 * GitHub's documented OAuth web flow and REST API, as far as a sign-in uses them: /login/oauth/authorize
 * (redirects back at once, as GitHub does for an authorized app), /login/oauth/access_token (form or JSON,
 * client secret, PKCE S256), /api/v3/user and /api/v3/user/emails with the bearer token.
 */
export async function startGitHubStandIn(options: { redirectUri: string }): Promise<GitHubStandIn> {
  const clientId = "Iv1.0123456789abcdef";
  const clientSecret = randomBytes(20).toString("hex");
  let current: GitHubUser | undefined;
  const codes = new Map<string, { user: GitHubUser; challenge?: string; redirectUri: string }>();
  const tokens = new Map<string, GitHubUser>();
  const server = http.createServer(async (request, response) => {
    const url = new URL(request.url!, "http://github.test");
    const json = (status: number, body: unknown) => response.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    if (url.pathname === "/login/oauth/authorize") {
      if (url.searchParams.get("client_id") !== clientId || url.searchParams.get("redirect_uri") !== options.redirectUri) return json(400, { error: "redirect_uri_mismatch" });
      const code = randomBytes(10).toString("hex");
      codes.set(code, { user: current!, challenge: url.searchParams.get("code_challenge") ?? undefined, redirectUri: url.searchParams.get("redirect_uri")! });
      const back = new URL(options.redirectUri);
      back.searchParams.set("code", code);
      back.searchParams.set("state", url.searchParams.get("state") ?? "");
      return response.writeHead(302, { location: back.href }).end();
    }
    if (url.pathname === "/login/oauth/access_token" && request.method === "POST") {
      const form = new URLSearchParams((await readBody(request)).toString("utf8"));
      const grant = codes.get(form.get("code") ?? "");
      codes.delete(form.get("code") ?? "");
      // GitHub answers a bad code with 200 and an error body.
      if (!grant || form.get("client_id") !== clientId || form.get("client_secret") !== clientSecret) return json(200, { error: "bad_verification_code" });
      const verifier = form.get("code_verifier") ?? "";
      if (grant.challenge && createHash("sha256").update(verifier).digest("base64url") !== grant.challenge) return json(200, { error: "bad_verification_code" });
      const token = `gho_${randomBytes(18).toString("hex")}`;
      tokens.set(token, grant.user);
      return json(200, { access_token: token, token_type: "bearer", scope: "read:user,user:email" });
    }
    const user = tokens.get((request.headers.authorization ?? "").replace(/^Bearer /, ""));
    if (url.pathname.startsWith("/api/v3/") && !user) return json(401, { message: "Bad credentials" });
    if (url.pathname === "/api/v3/user") return json(200, { id: user!.id, login: user!.login, name: user!.name ?? null, avatar_url: user!.avatar_url ?? null, email: null });
    if (url.pathname === "/api/v3/user/emails") return json(200, user!.emails.map((entry) => ({ ...entry, visibility: entry.primary ? "private" : null })));
    return json(404, { message: "Not Found" });
  });
  const issuer = await listen(server);
  return {
    issuer,
    clientId,
    clientSecret,
    signInAs: (user) => (current = user),
    close: () => stop(server),
  };
}
