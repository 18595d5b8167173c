// The upstream OpenID Connect provider federated_sign_in signs in at: a bare oidc-provider in the
// bench process, over HTTPS with a throwaway self-signed certificate (in production our IdP speaks
// only https to upstreams; its children trust the certificate through NODE_EXTRA_CA_CERTS), with
// in-memory accounts (any login name signs in, with any password, as that account: its email is the
// bench's federated person of that name, verified) and oidc-provider's development login pages.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import https from "node:https";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import Provider from "oidc-provider";
import { UPSTREAM_CALLBACK_PATH } from "../idp/federation/upstream-providers.ts";

export type BenchUpstream = {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** The certificate (PEM) and the file it is in, for NODE_EXTRA_CA_CERTS. */
  ca: string;
  caFile: string;
  stop(): Promise<void>;
};

/** The address an upstream account (login name) has, at the upstream and on ours. */
export const federatedUserEmail = (login: string) => `${login}@example.com`;
export const federatedLogin = (index: number) => `bench-fed-user-${index}`;

export async function startBenchUpstream(): Promise<BenchUpstream> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "idp-bench-upstream-"));
  const keyFile = path.join(dir, "key.pem");
  const caFile = path.join(dir, "cert.pem");
  await promisify(execFile)("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", keyFile, "-out", caFile,
  ]);
  const [key, ca] = await Promise.all([readFile(keyFile, "utf8"), readFile(caFile, "utf8")]);
  const server = https.createServer({ key, cert: ca });
  server.keepAliveTimeout = 72_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientId = "bench-idp";
  const clientSecret = randomBytes(16).toString("hex");
  const provider = new Provider(issuer, {
    // A native client: oidc-provider then accepts its loopback redirect URI on any port (RFC 8252),
    // and each start of our IdP listens on a port of its own.
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        application_type: "native",
        redirect_uris: [`http://127.0.0.1${UPSTREAM_CALLBACK_PATH}`],
        grant_types: ["authorization_code"],
        response_types: ["code"],
      },
    ],
    findAccount: (_ctx, id) => ({ accountId: id, claims: () => ({ sub: id, email: federatedUserEmail(id), email_verified: true, name: id }) }),
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
    features: { devInteractions: { enabled: true } },
    // Its own cookie names: the bench's cookie jar, like a browser, keeps 127.0.0.1's cookies whatever the port.
    cookies: { keys: [randomBytes(16).toString("hex")], names: { session: "_up_session", interaction: "_up_interaction", resume: "_up_interaction_resume" } },
    pkce: { required: () => true },
    // Lifetimes set (to oidc-provider's defaults' order of magnitude) so it does not warn of defaults.
    ttl: { AccessToken: 600, AuthorizationCode: 60, Grant: 600, IdToken: 600, Interaction: 600, Session: 600 },
  });
  provider.on("server_error", (_ctx, error) => process.stderr.write(`bench upstream server_error: ${String(error)}\n`));
  server.on("request", provider.callback());
  return {
    issuer,
    clientId,
    clientSecret,
    ca,
    caFile,
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
