// The CLI's commands. Each opens what it needs (configuration, database, keys), does one thing,
// and closes it again; `serve` runs until SIGINT or SIGTERM.
import { parseArgs, type ParseArgsConfig } from "node:util";
import { keySchedulePolicy, loadConfig, type Config } from "../config.ts";
import { keySchedule } from "../keys/key-schedule.ts";
import { rotateSigningKey } from "../keys/rotation.ts";
import { openDatabase } from "../db/connect.ts";
import type { Database } from "../db/database.ts";
import { migrate } from "../db/migrate.ts";
import { createAdmin, type Admin } from "../accounts/admin.ts";
import { argon2Params, createPasswordHasher } from "../accounts/passwords.ts";
import { generateSigningKey, loadSigningKeys } from "../keys/signing-keys.ts";
import { generateCookieKeys, loadCookieKeys } from "../keys/cookie-keys.ts";
import { startServer } from "../server.ts";
import { convexEnvCommands, jwksUrl } from "./convex-config.ts";
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { readNewPassword } from "./prompt.ts";
import { unlockAccount } from "../abuse/unlock.ts";
import { formatAuditEvent, osUserName, parseLimit, parseSince } from "./audit.ts";
import { createAuditStore } from "../store/audit.ts";

// The auth.config.ts this repository's convex/ folder uses; apps copy it as it is.
const AUTH_CONFIG_TEMPLATE = fileURLToPath(new URL("../../convex/auth.config.ts", import.meta.url));

export class CliUsageError extends Error {
  override name = "CliUsageError";
}

export const USAGE = `Usage: idp <command>

  serve                                  start the identity provider
  migrate                                apply pending database migrations
  users add --email E [--name N] [--email-verified]   (password from stdin or a prompt)
  users list
  users disable E | users enable E
  users unlock E                         end a sign-in lockout of E now (it also ends on its own)
  users set-password E                   (password from stdin or a prompt)
  clients add --id ID --redirect-uri URI [--redirect-uri URI ...] [--public] [--first-party]
              [--post-logout-redirect-uri URI ...] [--name N]
  clients add --id ID --service [--name N]   a server that gets service tokens (client_credentials)
  clients list
  clients remove ID
  keys generate                          create the first signing key (and cookie keys if missing)
  keys rotate [--immediate [--revoke-current]]
                                         add the next signing key: published now, signing once
                                         cached JWKS copies have expired (staged); --immediate signs
                                         at once, --revoke-current also withdraws the current key
  keys list                              every key with its state and times
  audit [--user E] [--since T] [--limit N]
                                         the audit trail, oldest first (T: ISO date/time or 30m, 24h, 7d;
                                         N: the most recent N events, default 1000)
  convex config --client ID [--jwks-url URL] [--write FILE]
                                         print (or write) convex/auth.config.ts and the
                                         \`npx convex env set\` commands for this issuer

Configuration comes from environment variables; see README.md.`;

const out = (line = ""): void => {
  process.stdout.write(line + "\n");
};

function parse<T extends NonNullable<ParseArgsConfig["options"]>>(args: string[], options: T, positionals = 0) {
  try {
    const parsed = parseArgs({ args, options, allowPositionals: positionals > 0, strict: true });
    if (parsed.positionals.length !== positionals) throw new CliUsageError(`expected ${positionals} argument(s)`);
    return parsed;
  } catch (error) {
    throw new CliUsageError((error as Error).message);
  }
}

async function withDatabase<T>(config: Config, fn: (db: Database) => Promise<T>): Promise<T> {
  const db = await openDatabase(config);
  try {
    await migrate(db);
    return await fn(db);
  } finally {
    await db.close();
  }
}

// The audit trail names the CLI as the actor, with the OS account that ran it when the OS can say.
const cliActor = () => {
  const osUser = osUserName();
  return { actor: "cli", actorDetails: osUser ? { os_user: osUser } : undefined };
};

const withAdmin = <T>(config: Config, fn: (admin: Admin) => Promise<T>) =>
  withDatabase(config, (db) => fn(createAdmin(db, createPasswordHasher(argon2Params(config)), cliActor())));

export async function runCli(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number | void> {
  const [command, sub, ...rest] = argv;
  if (!command || command === "help" || command === "--help" || command === "-h") return out(USAGE);
  const config = loadConfig(env);
  const key = ["serve", "migrate", "audit"].includes(command) ? command : `${command} ${sub ?? ""}`.trim();
  const args = ["serve", "migrate", "audit"].includes(command) ? argv.slice(1) : rest;

  switch (key) {
    case "serve":
      parse(args, {});
      return serve(config);
    case "migrate": {
      parse(args, {});
      const db = await openDatabase(config);
      const applied = await migrate(db).finally(() => db.close());
      return out(applied.length ? `applied ${applied.join(", ")}` : "database is up to date");
    }
    case "users add": {
      const { values } = parse(args, {
        email: { type: "string" },
        name: { type: "string" },
        "email-verified": { type: "boolean" },
      });
      if (!values.email) throw new CliUsageError("--email is required");
      const password = await readNewPassword();
      const user = await withAdmin(config, (admin) =>
        admin.addUser({ email: values.email!, name: values.name, emailVerified: values["email-verified"], password }),
      );
      return out(`added user ${user.email} (sub ${user.id})`);
    }
    case "users list": {
      parse(args, {});
      const users = await withAdmin(config, (admin) => admin.users.list());
      if (users.length === 0) return out("no users");
      for (const user of users) {
        const flags = [user.emailVerified ? "verified" : "unverified", user.disabled ? "disabled" : "active"].join(", ");
        out(`${user.email}\t${user.name ?? "-"}\t${user.id}\t${flags}`);
      }
      return;
    }
    case "users disable":
    case "users enable": {
      const { positionals } = parse(args, {}, 1);
      const disabled = sub === "disable";
      await withAdmin(config, (admin) => admin.setDisabled(positionals[0]!, disabled));
      return out(`${disabled ? "disabled" : "enabled"} ${positionals[0]}`);
    }
    case "users unlock": {
      const { positionals } = parse(args, {}, 1);
      const email = positionals[0]!;
      const wasLocked = await withDatabase(config, (db) => unlockAccount(config, db, email, cliActor()));
      return out(wasLocked ? `unlocked ${email}` : `${email} was not locked; its failed sign-ins are forgotten`);
    }
    case "users set-password": {
      const { positionals } = parse(args, {}, 1);
      const password = await readNewPassword();
      await withAdmin(config, (admin) => admin.setPassword(positionals[0]!, password));
      return out(`password changed for ${positionals[0]}`);
    }
    case "clients add": {
      const { values } = parse(args, {
        id: { type: "string" },
        name: { type: "string" },
        "redirect-uri": { type: "string", multiple: true },
        "post-logout-redirect-uri": { type: "string", multiple: true },
        public: { type: "boolean" },
        "first-party": { type: "boolean" },
        service: { type: "boolean" },
      });
      if (!values.id) throw new CliUsageError("--id is required");
      const { client, secret } = await withAdmin(config, (admin) =>
        admin.addClient({
          id: values.id!,
          name: values.name,
          redirectUris: values["redirect-uri"] ?? [],
          postLogoutRedirectUris: values["post-logout-redirect-uri"] ?? [],
          public: values.public ?? false,
          firstParty: values["first-party"] ?? false,
          service: values.service ?? false,
        }),
      );
      out(`added ${client.service ? "service" : secret ? "confidential" : "public"} client ${client.id}`);
      if (secret) out(`client secret (shown once, store it now): ${secret}`);
      return;
    }
    case "clients list": {
      parse(args, {});
      const clients = await withAdmin(config, (admin) => admin.clients.list());
      if (clients.length === 0) return out("no clients");
      for (const client of clients) {
        const kind = client.service
          ? "service"
          : [client.secretHash ? "confidential" : "public", client.firstParty ? "first-party" : "third-party"].join(", ");
        out(`${client.id}\t${kind}\t${client.redirectUris.join(" ")}`);
      }
      return;
    }
    case "clients remove": {
      const { positionals } = parse(args, {}, 1);
      await withAdmin(config, (admin) => admin.removeClient(positionals[0]!));
      return out(`removed client ${positionals[0]} and revoked its tokens`);
    }
    case "keys generate": {
      parse(args, {});
      if ((await loadSigningKeys(config.keysDir)).some((existing) => existing.state === "active")) {
        throw new Error(`${config.keysDir} already has a signing key: use \`idp keys rotate\` to replace it without breaking tokens`);
      }
      // The database is opened first, so that a key is made only when its audit event can be recorded.
      const key = await withAdmin(config, async (admin) => {
        const generated = await generateSigningKey(config.keysDir);
        await admin.keyGenerated(generated.kid);
        return generated;
      });
      out(`generated signing key ${key.kid} in ${config.keysDir}`);
      if (!(await loadCookieKeys(config.keysDir))) {
        await generateCookieKeys(config.keysDir);
        out(`generated cookie keys in ${config.keysDir}`);
      }
      out("running servers pick it up within KEYS_RELOAD_INTERVAL");
      return;
    }
    case "keys rotate": {
      const { values } = parse(args, { immediate: { type: "boolean" }, "revoke-current": { type: "boolean" } });
      if (values["revoke-current"] && !values.immediate) throw new CliUsageError("--revoke-current goes with --immediate");
      const rotation = await withAdmin(config, async (admin) => {
        const result = await rotateSigningKey(config, {
          now: new Date(),
          immediate: values.immediate,
          revokeCurrent: values["revoke-current"],
        });
        await admin.keyGenerated(result.key.kid);
        return result;
      });
      out(`added signing key ${rotation.key.kid}: published now, signing from ${rotation.activatesAt.toISOString()}`);
      if (rotation.replaced && !rotation.revoked) {
        out(`key ${rotation.replaced.kid} stays published until the tokens it signed have expired, then retires`);
      }
      for (const warning of rotation.warnings) process.stderr.write(`idp: warning: ${warning}\n`);
      return;
    }
    case "keys list": {
      parse(args, {});
      const keys = await loadSigningKeys(config.keysDir);
      if (keys.length === 0) return out(`no signing keys in ${config.keysDir}`);
      const now = new Date();
      for (const entry of keySchedule(keys, now, keySchedulePolicy(config)).timeline) {
        const times = [
          `created ${entry.key.createdAt}`,
          entry.activatesAt ? `${entry.status === "next" ? "signs from" : "signed from"} ${entry.activatesAt.toISOString()}` : "",
          entry.retiresAt ? `${entry.status === "retired" ? "retired" : "retires"} ${entry.retiresAt.toISOString()}` : "",
          entry.key.revokedAt ? `revoked ${entry.key.revokedAt}` : "",
        ].filter(Boolean);
        out(`${entry.key.kid}\t${entry.status}\t${times.join(", ")}`);
      }
      return;
    }
    case "audit": {
      const { values } = parse(args, { user: { type: "string" }, since: { type: "string" }, limit: { type: "string" } });
      const filter = {
        email: values.user,
        since: values.since === undefined ? undefined : parseSince(values.since, new Date()),
        limit: values.limit === undefined ? undefined : parseLimit(values.limit),
      };
      const events = await withDatabase(config, (db) => createAuditStore(db).list(filter));
      if (events.length === 0) return out("no events");
      for (const event of events) out(formatAuditEvent(event));
      return;
    }
    case "convex config": {
      const { values } = parse(args, {
        client: { type: "string" },
        "jwks-url": { type: "string" },
        write: { type: "string" },
      });
      if (!values.client) throw new CliUsageError("--client is required");
      const client = await withAdmin(config, (admin) => admin.clients.find(values.client!));
      if (!client) throw new Error(`no client with id ${values.client}: add it with \`idp clients add\``);
      if (client.service) throw new Error(`${client.id} is a service client: pass the client id of the app people sign in to`);
      const authConfig = await readFile(AUTH_CONFIG_TEMPLATE, "utf8");
      if (values.write) {
        await writeFile(values.write, authConfig, { flag: "wx" }).catch((error: NodeJS.ErrnoException) => {
          throw error.code === "EEXIST" ? new Error(`${values.write} exists; move it away or compare it with the output of this command`) : error;
        });
        out(`wrote ${values.write}`);
      } else {
        out(authConfig.trimEnd());
      }
      out();
      out("# Then give the deployment its values:");
      const settings = {
        issuer: config.issuer,
        jwksUrl: values["jwks-url"] ?? jwksUrl(config.issuer),
        clientId: client.id,
        serviceAudience: config.serviceTokenAudience,
      };
      for (const command of convexEnvCommands(settings)) out(command);
      return;
    }
    default:
      throw new CliUsageError(`unknown command "${argv.slice(0, 2).join(" ")}"`);
  }
}

async function serve(config: Config): Promise<void> {
  const server = await startServer(config);
  const base = config.issuer;
  process.stderr.write(
    [
      "",
      `Identity provider running (${config.databaseUrl ? "PostgreSQL" : `embedded database in ${config.dataDir}`})`,
      `  issuer     ${base}`,
      `  discovery  ${base}/.well-known/openid-configuration`,
      `  JWKS       ${base}/jwks`,
      "",
      "Next steps:",
      "  npm run idp -- users add --email you@example.com",
      "  npm run idp -- clients add --id my-app --public --first-party --redirect-uri http://localhost:5173/callback",
      "  npm run idp -- convex config --client my-app",
      "",
    ].join("\n"),
  );
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  server.app.log.info("shutting down");
  await server.close();
}
