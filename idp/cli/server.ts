// `idp serve` and `idp migrate`: run the identity provider, or bring its database schema up to date.
import { startServer } from "../server.ts";
import { migrate } from "../db/migrate.ts";
import { parse, type CommandGroup } from "./command.ts";
import type { CliContext } from "./context.ts";

export const server: CommandGroup = {
  name: "server",
  title: "Server",
  commands: [
    {
      name: "serve",
      usage: [""],
      summary: "start the identity provider",
      details: "Applies pending migrations, loads the keys (generating them in development) and listens\non HOST:PORT until SIGINT or SIGTERM, then finishes the requests in flight and exits.",
      async run(args, ctx) {
        parse(args, {});
        return serve(ctx);
      },
    },
    {
      name: "migrate",
      usage: [""],
      summary: "apply pending database migrations",
      details: "Prints the migrations it applied, or that the database is up to date. `serve` and every\nother command migrate too; this one lets a deployment do it as a separate step.",
      async run(args, ctx) {
        parse(args, {});
        const applied = await migrate(await ctx.connect());
        ctx.out(applied.length ? `applied ${applied.join(", ")}` : "database is up to date");
      },
    },
  ],
};

async function serve({ config }: CliContext): Promise<void> {
  const running = await startServer(config);
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
  running.app.log.info("shutting down");
  await running.close();
}
