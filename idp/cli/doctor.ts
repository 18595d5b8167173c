// `idp doctor token|config`: why Convex refuses a token or a configuration, one PASS/FAIL line per
// rule. The rules live in doctor/; this module gathers what they compare with (ISSUER, KEYS_DIR,
// the registered clients, what the IdP serves) and prints them. Exit status 0 only when all pass.
import { readFile } from "node:fs/promises";
import { keySchedulePolicy } from "../config.ts";
import { AuthConfigParseError, parseAuthConfig } from "../doctor/auth-config-file.ts";
import {
  authConfigChecks,
  discoveryCheck,
  fetchForDoctor,
  jwksCacheCheck,
  jwksContentTypeCheck,
  jwksFetchCheck,
  jwksKeysCheck,
  jwksSigningKeyCheck,
} from "../doctor/config-checks.ts";
import { exitStatus, fail, formatResult, type RuleResult } from "../doctor/report.ts";
import { diagnoseToken } from "../doctor/token-rules.ts";
import { keySchedule } from "../keys/key-schedule.ts";
import { loadSigningKeys } from "../keys/signing-keys.ts";
import { CliUsageError, parse, type CommandGroup } from "./command.ts";
import type { CliContext } from "./context.ts";
import { jwksUrl } from "./convex-config.ts";
import { readSecretFromStdin } from "./prompt.ts";

/** The keys of KEYS_DIR as the server schedules them now: what it publishes, and each kid's status. */
async function keysNow(ctx: CliContext, now: Date) {
  const schedule = keySchedule(await loadSigningKeys(ctx.config.keysDir), now, keySchedulePolicy(ctx.config));
  return {
    signingKid: schedule.signing?.kid,
    // Public halves only: the private members never leave this function.
    published: schedule.published.map(({ jwk }) => ({ kty: jwk.kty, kid: jwk.kid, n: jwk.n, e: jwk.e, alg: jwk.alg, use: jwk.use })),
    keyStatus: new Map(schedule.timeline.map((entry) => [entry.key.kid, entry.status])),
  };
}

function print(ctx: CliContext, results: RuleResult[]): number {
  for (const result of results) ctx.out(formatResult(result));
  return exitStatus(results);
}

/** NAME=VALUE pairs standing for the deployment's environment variables. */
function parseEnvPairs(pairs: string[] | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs ?? []) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new CliUsageError(`--env takes NAME=VALUE, got "${pair}"`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}

export const doctor: CommandGroup = {
  name: "doctor",
  title: "Doctor (why Convex refuses a token or a configuration)",
  commands: [
    {
      name: "doctor token",
      usage: ["<JWT | ->"],
      summary: "check a token against this IdP and Convex's rules,\none PASS/FAIL line per rule",
      details: [
        "Rules: alg, kid, jwks-key (the kid in the JWKS published now), signature, iss (byte for byte",
        "ISSUER), aud (a registered client or SERVICE_TOKEN_AUDIENCE), exp, iat, nbf (Convex's 5 s",
        "leeway), sub, claim-types, auth-config (which convex/auth.config.ts entry takes it).",
        "`-` reads the token from stdin. Uses ISSUER, KEYS_DIR and DATABASE_URL as the server does.",
        "Exit status 0 only when every rule passes.",
      ].join("\n"),
      async run(args, ctx) {
        const { positionals } = parse(args, {}, 1);
        const token = positionals[0] === "-" ? await readSecretFromStdin() : positionals[0]!;
        const now = new Date();
        const keys = await keysNow(ctx, now);
        const clients = (await (await ctx.stores()).clients.list()).map(({ id, service }) => ({ id, service }));
        const results = await diagnoseToken(token, {
          issuer: ctx.config.issuer,
          now: Math.floor(now.getTime() / 1000),
          published: keys.published,
          keyStatus: keys.keyStatus,
          clients,
          serviceAudience: ctx.config.serviceTokenAudience,
        });
        return print(ctx, results);
      },
    },
    {
      name: "doctor config",
      usage: ["[--jwks-url URL] [--auth-config FILE [--env NAME=VALUE ...]]"],
      summary: "fetch discovery and the JWKS as Convex does, and check\na Convex auth.config.ts against this IdP",
      details: [
        "--jwks-url URL     the JWKS URL the Convex backend uses, when not discovery's jwks_uri",
        "                   (inside docker compose: http://idp:3000/oidc/jwks)",
        "--auth-config FILE a Convex auth.config.ts: each provider's issuer, jwks, applicationID and",
        "                   algorithm compared with this IdP. The file is read, never run.",
        "--env NAME=VALUE   a deployment variable the file reads as process.env.NAME (repeatable;",
        "                   `npx convex env list` prints them)",
        "Exit status 0 only when every check passes.",
      ].join("\n"),
      async run(args, ctx) {
        const { values } = parse(args, { "jwks-url": { type: "string" }, "auth-config": { type: "string" }, env: { type: "string", multiple: true } });
        if (values.env && !values["auth-config"]) throw new CliUsageError("--env goes with --auth-config");
        const env = parseEnvPairs(values.env);
        const { issuer } = ctx.config;
        const discovery = await fetchForDoctor(`${issuer}/.well-known/openid-configuration`);
        const discovered = discovery.status === 200 && typeof (discovery.body as { jwks_uri?: unknown })?.jwks_uri === "string" ? (discovery.body as { jwks_uri: string }).jwks_uri : undefined;
        const jwks = await fetchForDoctor(values["jwks-url"] ?? discovered ?? jwksUrl(issuer));
        const keys = await keysNow(ctx, new Date());
        const results: RuleResult[] = [
          discoveryCheck(discovery, issuer),
          jwksFetchCheck(jwks),
          jwksContentTypeCheck(jwks),
          jwksCacheCheck(jwks, ctx.config.jwksMaxAgeSeconds),
          await jwksKeysCheck(jwks),
          jwksSigningKeyCheck(jwks, keys.signingKid),
        ];
        const file = values["auth-config"];
        if (file) {
          const source = await readFile(file, "utf8");
          try {
            const providers = parseAuthConfig(source);
            const clients = await (await ctx.stores()).clients.list();
            results.push(
              ...authConfigChecks(
                providers,
                {
                  issuer,
                  jwksUrls: [...new Set([jwksUrl(issuer), ...(values["jwks-url"] ? [values["jwks-url"]] : [])])],
                  clientIds: clients.filter((client) => !client.service).map((client) => client.id),
                  serviceAudience: ctx.config.serviceTokenAudience,
                },
                env,
              ),
            );
          } catch (error) {
            if (!(error instanceof AuthConfigParseError)) throw error;
            results.push(fail("auth-config-file", `${file}: ${error.message}`, "write the providers as object literals, as convex/auth.config.ts does"));
          }
        }
        return print(ctx, results);
      },
    },
  ],
};
