// `idp clients ...`: the applications people sign in to, and the servers that get service tokens.
import { ADMIN_SCOPES } from "../accounts/operator.ts";
import { CliUsageError, parse, type CommandGroup } from "./command.ts";

export const clients: CommandGroup = {
  name: "clients",
  title: "Clients",
  commands: [
    {
      name: "clients add",
      usage: [
        "--id ID --redirect-uri URI [--redirect-uri URI ...] [--public] [--first-party]\n[--post-logout-redirect-uri URI ...] [--name N] [--logo-uri URL] [--require-mfa] [--roles-claim]",
        "--id ID --native --redirect-uri URI [--redirect-uri URI ...] [--first-party] [--name N] [--roles-claim]",
        "--id ID --device [--first-party] [--name N] [--roles-claim]",
        "--id ID --service [--name N] [--scopes S,S ...]",
      ],
      summary: "add an app people sign in to; with --service, a server\nthat gets service tokens (client_credentials)",
      details: [
        "--public          a browser or mobile app: no secret, PKCE required (else confidential: the",
        "                  secret is printed once and stored only as a hash)",
        "--first-party     your own app: no consent page",
        "--redirect-uri    where sign-in returns, matched exactly: https, http for localhost only, or",
        "                  an app scheme like com.example.app:/callback",
        "--name            the name the sign-in pages show (\"to continue to <name>\"); default the id",
        "--logo-uri        the logo the sign-in pages show beside it: an https URL (http for localhost",
        "                  only), without a user name or password, of at most 2048 characters",
        "--native          a mobile or desktop app (RFC 8252): public, PKCE required; redirect URIs",
        "                  with a reverse-domain scheme (com.example.app:/callback), claimed https",
        "                  links, or http://127.0.0.1/... or http://[::1]/...; registered without a",
        "                  port, a loopback URI accepts any port (not localhost: RFC 8252 §8.3)",
        "--device          a command-line tool or TV (RFC 8628 device authorization grant): public,",
        "                  no redirect URIs; people type its code at <issuer>/device",
        "--service         a server using client_credentials: confidential, no redirect URIs",
        "--require-mfa     everyone signing in to it needs a second factor (an authenticator app or",
        "                  a passkey); a person without one sets up an app while signing in",
        "--scopes          what a service's tokens may do in the admin API (comma-separated, repeatable):",
        `                  ${ADMIN_SCOPES.join(", ")}.`,
        "                  A token request without `scope` gets all of them",
        "--roles-claim     its ID tokens carry the person's roles as `roles` (an array of strings)",
      ].join("\n"),
      async run(args, ctx) {
        const { values } = parse(args, {
          id: { type: "string" },
          name: { type: "string" },
          "logo-uri": { type: "string" },
          "redirect-uri": { type: "string", multiple: true },
          "post-logout-redirect-uri": { type: "string", multiple: true },
          public: { type: "boolean" },
          "first-party": { type: "boolean" },
          service: { type: "boolean" },
          native: { type: "boolean" },
          device: { type: "boolean" },
          "require-mfa": { type: "boolean" },
          scopes: { type: "string", multiple: true },
          "roles-claim": { type: "boolean" },
        });
        if (!values.id) throw new CliUsageError("--id is required");
        if ([values.native, values.device, values.service].filter(Boolean).length > 1) throw new CliUsageError("--native, --device and --service exclude each other");
        if (values["require-mfa"] && values.service) throw new CliUsageError("--require-mfa is for clients people sign in to, not --service");
        const { client, secret } = await (await ctx.operator()).addClient({
          id: values.id,
          name: values.name,
          logoUri: values["logo-uri"],
          redirectUris: values["redirect-uri"] ?? [],
          postLogoutRedirectUris: values["post-logout-redirect-uri"] ?? [],
          public: values.public ?? false,
          firstParty: values["first-party"] ?? false,
          service: values.service ?? false,
          kind: values.native ? "native" : values.device ? "device" : "web",
          requireMfa: values["require-mfa"] ?? false,
          rolesClaim: values["roles-claim"] ?? false,
          scopes: (values.scopes ?? []).flatMap((value) => value.split(",")),
        });
        const kind = client.service ? "service" : secret ? "confidential" : client.kind === "web" ? "public" : `public ${client.kind}`;
        ctx.out(`added ${kind} client ${client.id}${client.requireMfa ? " (second factor required)" : ""}`);
        if (client.scopes.length) ctx.out(`scopes: ${client.scopes.join(" ")}`);
        if (secret) ctx.out(`client secret (shown once, store it now): ${secret}`);
      },
    },
    {
      name: "clients list",
      usage: [""],
      summary: "every client: id, kind, redirect URIs (name, logo if set)",
      details: "One client a line, tab-separated. The name and logo columns are there only for a client\nthat has one of them (\"-\" for the other).",
      async run(args, ctx) {
        parse(args, {});
        const list = await (await ctx.stores()).clients.list();
        if (list.length === 0) return ctx.out("no clients");
        for (const client of list) {
          const kind = client.service
            ? "service"
            : [client.secretHash ? "confidential" : "public", ...(client.kind === "web" ? [] : [client.kind]), client.firstParty ? "first-party" : "third-party"].join(", ");
          const shown = client.name !== null || client.logoUri !== null ? [client.name ?? "-", client.logoUri ?? "-"] : [];
          ctx.out([client.id, kind, client.redirectUris.join(" "), ...shown].join("\t"));
        }
      },
    },
    {
      name: "clients remove",
      usage: ["ID"],
      summary: "remove a client and revoke everything issued to it",
      async run(args, ctx) {
        const { positionals } = parse(args, {}, 1);
        await (await ctx.operator()).removeClient(positionals[0]!);
        ctx.out(`removed client ${positionals[0]} and revoked its tokens`);
      },
    },
  ],
};
