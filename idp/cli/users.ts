// `idp users ...`: the people who sign in. Passwords come from stdin or a prompt, never from argv.
import { CliUsageError, parse, type CommandGroup } from "./command.ts";
import type { CliContext } from "./context.ts";
import { readNewPassword } from "./prompt.ts";
import { validatePhone } from "../accounts/operator.ts";

const PHONE_INPUT = "PHONE is in international format (+4915112345678; spaces and dashes are fine) and stored as E.164.";

/** A phone number from the command line, or a usage error saying what is wrong with it. */
function cliPhone(given: string): string {
  try {
    return validatePhone(given);
  } catch (error) {
    throw new CliUsageError((error as Error).message);
  }
}

const PASSWORD_INPUT = "The password is read from a prompt that does not echo, or from stdin when it is piped.";

export const users: CommandGroup = {
  name: "users",
  title: "Users",
  commands: [
    {
      name: "users add",
      usage: ["--email E [--name N] [--email-verified] [--phone PHONE [--phone-verified]]"],
      summary: "add a user (password from stdin or a prompt)",
      details: `${PASSWORD_INPUT}\nPrints the new user's sub, the id tokens carry. --email-verified marks the address as checked.\n${PHONE_INPUT} --phone-verified marks it as checked.`,
      async run(args, ctx) {
        const { values } = parse(args, {
          email: { type: "string" },
          name: { type: "string" },
          "email-verified": { type: "boolean" },
          phone: { type: "string" },
          "phone-verified": { type: "boolean" },
        });
        if (!values.email) throw new CliUsageError("--email is required");
        // Checked before the password is asked for.
        const phone = values.phone === undefined ? undefined : cliPhone(values.phone);
        if (values["phone-verified"] && phone === undefined) throw new CliUsageError("--phone-verified needs --phone");
        const password = await readNewPassword();
        const operator = await ctx.operator();
        const user = await operator.addUser({
          email: values.email,
          name: values.name,
          emailVerified: values["email-verified"],
          password,
          phone,
          phoneVerified: values["phone-verified"],
        });
        ctx.out(`added user ${user.email} (sub ${user.id})`);
      },
    },
    {
      name: "users list",
      usage: [""],
      summary: "every user: email, name, sub, verified, active, phone",
      details: "One user a line, tab-separated: email, name (- for none), sub, whether the email is verified and the user active, and the phone number (- for none) with (verified) when it is.",
      async run(args, ctx) {
        parse(args, {});
        const list = await (await ctx.stores()).users.list();
        if (list.length === 0) return ctx.out("no users");
        for (const user of list) {
          const flags = [user.emailVerified ? "verified" : "unverified", user.disabled ? "disabled" : "active"].join(", ");
          const phone = user.phone ? `${user.phone}${user.phoneVerified ? " (verified)" : ""}` : "-";
          ctx.out(`${user.email}\t${user.name ?? "-"}\t${user.id}\t${flags}\t${phone}`);
        }
      },
    },
    {
      name: "users set-phone",
      usage: ["E PHONE [--verified]", "E --remove"],
      summary: "set or remove E's phone number (the `phone` scope releases it)",
      details: `${PHONE_INPUT} --verified marks it as checked; without it the number counts as unverified.\n--remove deletes E's number.\nTokens issued from now on carry the change.`,
      async run(args, ctx) {
        const remove = args.includes("--remove");
        const { positionals, values } = parse(args, { verified: { type: "boolean" }, remove: { type: "boolean" } }, remove ? 1 : 2);
        if (values.remove && values.verified) throw new CliUsageError("--remove takes no --verified");
        const [email, given] = positionals as [string, string | undefined];
        const phone = given === undefined ? null : cliPhone(given);
        const user = await (await ctx.operator()).setPhone(email, phone, values.verified ?? false);
        ctx.out(user.phone ? `phone of ${user.email} set to ${user.phone}${user.phoneVerified ? " (verified)" : ""}` : `phone of ${user.email} removed`);
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
