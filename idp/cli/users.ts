// `idp users ...`: the people who sign in. Passwords come from stdin or a prompt, never from argv.
import { CliUsageError, parse, type CommandGroup } from "./command.ts";
import type { CliContext } from "./context.ts";
import { readNewPassword } from "./prompt.ts";

const PASSWORD_INPUT = "The password is read from a prompt that does not echo, or from stdin when it is piped.";

export const users: CommandGroup = {
  name: "users",
  title: "Users",
  commands: [
    {
      name: "users add",
      usage: ["--email E [--name N] [--email-verified]"],
      summary: "add a user (password from stdin or a prompt)",
      details: `${PASSWORD_INPUT}\nPrints the new user's sub, the id tokens carry. --email-verified marks the address as checked.`,
      async run(args, ctx) {
        const { values } = parse(args, { email: { type: "string" }, name: { type: "string" }, "email-verified": { type: "boolean" } });
        if (!values.email) throw new CliUsageError("--email is required");
        const password = await readNewPassword();
        const operator = await ctx.operator();
        const user = await operator.addUser({ email: values.email, name: values.name, emailVerified: values["email-verified"], password });
        ctx.out(`added user ${user.email} (sub ${user.id})`);
      },
    },
    {
      name: "users list",
      usage: [""],
      summary: "every user: email, name, sub, verified, active",
      async run(args, ctx) {
        parse(args, {});
        const list = await (await ctx.stores()).users.list();
        if (list.length === 0) return ctx.out("no users");
        for (const user of list) {
          const flags = [user.emailVerified ? "verified" : "unverified", user.disabled ? "disabled" : "active"].join(", ");
          ctx.out(`${user.email}\t${user.name ?? "-"}\t${user.id}\t${flags}`);
        }
      },
    },
    {
      name: "users disable",
      usage: ["E"],
      summary: "stop E signing in (tokens end at the next refresh)",
      run: (args, ctx) => setDisabled(args, ctx, true),
    },
    {
      name: "users enable",
      usage: ["E"],
      summary: "let a disabled user sign in again",
      run: (args, ctx) => setDisabled(args, ctx, false),
    },
    {
      name: "users unlock",
      usage: ["E"],
      summary: "end a sign-in lockout of E now (it also ends on its own)",
      details:
        "Also forgets E's failed sign-ins and earlier locks. Works for any email, registered or not.\nNeeds the server's DATABASE_URL, REDIS_URL and ISSUER, where the counters live.",
      async run(args, ctx) {
        const { positionals } = parse(args, {}, 1);
        const email = positionals[0]!;
        const wasLocked = await (await ctx.operator()).unlock(email);
        ctx.out(wasLocked ? `unlocked ${email}` : `${email} was not locked; its failed sign-ins are forgotten`);
      },
    },
    {
      name: "users set-password",
      usage: ["E"],
      summary: "replace E's password (from stdin or a prompt)",
      details: PASSWORD_INPUT,
      async run(args, ctx) {
        const { positionals } = parse(args, {}, 1);
        const password = await readNewPassword();
        await (await ctx.operator()).setPassword(positionals[0]!, password);
        ctx.out(`password changed for ${positionals[0]}`);
      },
    },
  ],
};

async function setDisabled(args: string[], ctx: CliContext, disabled: boolean): Promise<void> {
  const { positionals } = parse(args, {}, 1);
  await (await ctx.operator()).setDisabled(positionals[0]!, disabled);
  ctx.out(`${disabled ? "disabled" : "enabled"} ${positionals[0]}`);
}
