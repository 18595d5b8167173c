// `idp upstreams ...`: the upstream identity providers people can sign in through ("Continue with
// ..."), brokered by this IdP, which stays the only issuer a Convex app trusts.
import { CliUsageError, parse, type CommandGroup } from "./command.ts";
import { PRESETS } from "../federation/upstream-providers.ts";
import { readSecret } from "./prompt.ts";

const KEYS = "Run it with the server's DATABASE_URL and KEYS_DIR: the secret is sealed with the server's cookie keys.";

export const upstreams: CommandGroup = {
  name: "upstreams",
  title: "Upstream identity providers",
  commands: [
    {
      name: "upstreams add",
      usage: [
        "--id ID --issuer URL --client-id X [--scopes S] [--name N]\n[--trust-email] [--allow-sign-up] [--email-domains D,...] [--public]",
        `--id ID --preset ${PRESETS.join("|")} --client-id X [...]`,
      ],
      summary: "let people sign in through an OpenID Connect provider or GitHub;\nprints the redirect URI to register there",
      details: [
        "The client secret is read from stdin (or a prompt); --public for a client without one. For --preset apple it is",
        "the private key (.p8, PEM) that signs the client secret JWTs, with --team-id and --key-id.",
        "Presets: google, microsoft (every organisation's Entra ID; --tenant T for one), apple, github (OAuth 2 and",
        "its API: the primary email; --issuer for GitHub Enterprise Server). --issuer is https (http or loopback only",
        "outside production). --trust-email: the provider's verified email links an account with the same verified",
        "email and updates it, and its amr is carried; otherwise a first sign-in with an existing account's email asks",
        "for that account's password. --allow-sign-up: a first sign-in with a new verified email creates an account.",
        `--email-domains: an email typed on the sign-in page in these domains goes straight to this provider. ${KEYS}`,
      ].join("\n"),
      async run(args, ctx) {
        const { values } = parse(args, {
          id: { type: "string" },
          preset: { type: "string" },
          issuer: { type: "string" },
          "client-id": { type: "string" },
          scopes: { type: "string" },
          name: { type: "string" },
          "trust-email": { type: "boolean" },
          "allow-sign-up": { type: "boolean" },
          "email-domains": { type: "string", multiple: true },
          public: { type: "boolean" },
          tenant: { type: "string" },
          "team-id": { type: "string" },
          "key-id": { type: "string" },
        });
        if (!values.id) throw new CliUsageError("--id is required");
        if (!values["client-id"]) throw new CliUsageError("--client-id is required");
        const secret = values.public ? undefined : await readSecret(values.preset === "apple" ? "Private key (PEM): " : "Client secret: ");
        if (!values.public && !secret) throw new CliUsageError("no client secret on stdin (use --public for a client without one)");
        const { provider, redirectUri } = await (await ctx.upstreams()).add({
          id: values.id,
          preset: values.preset,
          issuer: values.issuer,
          clientId: values["client-id"],
          secret,
          scopes: values.scopes,
          name: values.name,
          trustEmail: values["trust-email"],
          allowSignUp: values["allow-sign-up"],
          emailDomains: values["email-domains"],
          tenant: values.tenant,
          teamId: values["team-id"],
          keyId: values["key-id"],
        });
        ctx.out(`added upstream ${provider.id} (${provider.displayName}, ${provider.issuer})`);
        ctx.out(`redirect URI to register at the provider: ${redirectUri}`);
      },
    },
    {
      name: "upstreams list",
      usage: [""],
      summary: "every upstream provider: id, kind, issuer, name, settings",
      details: "One provider a line, tab-separated: id, kind, issuer, display name, enabled or disabled, trust-email,\nallow-sign-up, email domains (- for none). Secrets are never shown.",
      async run(args, ctx) {
        parse(args, {});
        const list = await (await ctx.upstreams()).list();
        if (list.length === 0) return ctx.out("no upstream providers");
        for (const p of list) {
          ctx.out(
            [p.id, p.kind, p.issuer, p.displayName, p.enabled ? "enabled" : "disabled", p.trustEmail ? "trust-email" : "-", p.allowSignUp ? "allow-sign-up" : "-", p.emailDomains.join(",") || "-"].join("\t"),
          );
        }
      },
    },
    {
      name: "upstreams disable",
      usage: ["ID"],
      summary: "stop offering a provider (its linked identities stay)",
      async run(args, ctx) {
        const { positionals } = parse(args, {}, 1);
        await (await ctx.upstreams()).disable(positionals[0]!);
        ctx.out(`disabled upstream ${positionals[0]}`);
      },
    },
    {
      name: "upstreams enable",
      usage: ["ID"],
      summary: "offer a disabled provider again",
      async run(args, ctx) {
        const { positionals } = parse(args, {}, 1);
        await (await ctx.upstreams()).enable(positionals[0]!);
        ctx.out(`enabled upstream ${positionals[0]}`);
      },
    },
    {
      name: "upstreams remove",
      usage: ["ID"],
      summary: "remove a provider (identities linked through it stay, for if it comes back)",
      async run(args, ctx) {
        const { positionals } = parse(args, {}, 1);
        await (await ctx.upstreams()).remove(positionals[0]!);
        ctx.out(`removed upstream ${positionals[0]}`);
      },
    },
  ],
};
