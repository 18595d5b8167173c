// `idp convex config`: what a Convex deployment needs to trust this issuer, printed or written.
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { CliUsageError, parse, type CommandGroup } from "./command.ts";
import { convexEnvCommands, jwksUrl } from "./convex-config.ts";

// The auth.config.ts this repository's convex/ folder uses; apps copy it as it is.
const AUTH_CONFIG_TEMPLATE = fileURLToPath(new URL("../../convex/auth.config.ts", import.meta.url));

export const convex: CommandGroup = {
  name: "convex",
  title: "Convex",
  commands: [
    {
      name: "convex config",
      usage: ["--client ID [--jwks-url URL] [--write FILE]"],
      summary: "print (or write) convex/auth.config.ts and the\n`npx convex env set` commands for this issuer",
      details: [
        "--client ID     the client id of the app people sign in to (not a service client)",
        "--jwks-url URL  where the Convex backend fetches the JWKS, when not at the issuer's public",
        "                address (inside docker compose: http://idp:3000/oidc/jwks)",
        "--write FILE    write auth.config.ts to FILE instead of printing it; never overwrites",
      ].join("\n"),
      async run(args, ctx) {
        const { values } = parse(args, { client: { type: "string" }, "jwks-url": { type: "string" }, write: { type: "string" } });
        if (!values.client) throw new CliUsageError("--client is required");
        const client = await (await ctx.stores()).clients.find(values.client);
        if (!client) throw new Error(`no client with id ${values.client}: add it with \`idp clients add\``);
        if (client.service) throw new Error(`${client.id} is a service client: pass the client id of the app people sign in to`);
        const authConfig = await readFile(AUTH_CONFIG_TEMPLATE, "utf8");
        if (values.write) {
          const target = values.write;
          await writeFile(target, authConfig, { flag: "wx" }).catch((error: NodeJS.ErrnoException) => {
            throw error.code === "EEXIST" ? new Error(`${target} exists; move it away or compare it with the output of this command`) : error;
          });
          ctx.out(`wrote ${target}`);
        } else {
          ctx.out(authConfig.trimEnd());
        }
        ctx.out();
        ctx.out("# Then give the deployment its values:");
        const settings = {
          issuer: ctx.config.issuer,
          jwksUrl: values["jwks-url"] ?? jwksUrl(ctx.config.issuer),
          clientId: client.id,
          serviceAudience: ctx.config.serviceTokenAudience,
        };
        for (const command of convexEnvCommands(settings)) ctx.out(command);
      },
    },
  ],
};
