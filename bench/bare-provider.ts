// The baseline for the benchmark: a bare oidc-provider 9 with its in-memory adapter and its own
// development login pages, configured from our own base configuration (scopes, claims, PKCE,
// rotation, service tokens, lifetimes, the same signing key), served by node:http under /oidc. Run as a child process:
//   node bench/bare-provider.ts --port P --keys-dir DIR --service-secret S
import http from "node:http";
import { parseArgs } from "node:util";
import Provider, { type Configuration } from "oidc-provider";
import { loadConfig } from "../idp/config.ts";
import { loadKeyMaterial } from "../idp/keys/key-material.ts";
import { createFindAccount } from "../idp/oidc/account.ts";
import { baseConfiguration } from "../idp/oidc/provider.ts";
import { clientMetadata } from "../idp/oidc/adapter.ts";
import type { User, UserStore } from "../idp/store/users.ts";
import { BENCH_CLIENTS, REDIRECT_URI } from "./fixtures.ts";

const { values } = parseArgs({
  options: { port: { type: "string" }, "keys-dir": { type: "string" }, "service-secret": { type: "string" } },
});
const port = Number(values.port);
const issuer = `http://127.0.0.1:${port}/oidc`;
// Our defaults for every lifetime, read the way the IdP reads them.
const config = loadConfig({ PORT: String(port), ISSUER: issuer, KEYS_DIR: values["keys-dir"], GENERATE_KEYS: "false" });
const keys = await loadKeyMaterial(config);

// Accounts live in memory; the dev login page's "login" field is the account id.
const users = new Map<string, User>();
const userStore = {
  async findById(id: string): Promise<User | undefined> {
    let user = users.get(id);
    if (!user) {
      const now = new Date();
      user = { id, email: `${id}@example.com`, emailVerified: true, name: "Bench User", picture: null, passwordHash: null, disabled: false, phone: null, phoneVerified: false, createdAt: now, updatedAt: now };
      users.set(id, user);
    }
    return user;
  },
} as unknown as UserStore;

const now = new Date();
const clients = [
  clientMetadata({ ...BENCH_CLIENTS.web, logoUri: null, secretHash: null, service: false, kind: "web", requireMfa: false, createdAt: now }),
  // The bare provider compares client secrets as given; ours stores a SHA-256 digest of them.
  { ...clientMetadata({ ...BENCH_CLIENTS.service, logoUri: null, secretHash: "x", service: true, kind: "web", requireMfa: false, createdAt: now }), client_secret: values["service-secret"]! },
];

// Our provider's own base configuration (scopes, claims, PKCE, rotation, service tokens, lifetimes),
// with static clients and oidc-provider's development login pages instead of our storage and pages.
const base = baseConfiguration({ config, keys, findAccount: createFindAccount(userStore) });
const configuration: Configuration = {
  ...base,
  clients: clients as Configuration["clients"],
  features: { ...base.features, devInteractions: { enabled: true } },
};

const provider = new Provider(issuer, configuration);
const callback = provider.callback();
const server = http.createServer((request, response) => {
  // Mounted under /oidc the way middie mounts ours: the provider reads the mount path from originalUrl.
  if (request.url === "/oidc" || request.url?.startsWith("/oidc/") || request.url?.startsWith("/oidc?")) {
    (request as http.IncomingMessage & { originalUrl?: string }).originalUrl = request.url;
    request.url = request.url.slice("/oidc".length) || "/";
    return callback(request, response);
  }
  response.writeHead(404).end();
});
server.keepAliveTimeout = 72_000; // Fastify's default, so idle keep-alive sockets behave alike
server.listen(port, "127.0.0.1", () => process.stdout.write(`bare oidc-provider listening on ${issuer} (${REDIRECT_URI})\n`));

for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => server.close(() => process.exit(0)));
