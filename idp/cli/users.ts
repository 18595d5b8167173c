// `idp users ...`: the people who sign in. Passwords come from stdin or a prompt, never from argv.
import type { EmailVerification } from "../accounts/email-verification.ts";
import { supportedLocales } from "../pages/i18n.ts";
import { INVITATION_LINK_TTL_SECONDS, VERIFICATION_LINK_TTL_SECONDS } from "../mail/templates.ts";
import { CliUsageError, parse, type CommandGroup } from "./command.ts";
import { osUserName, type CliContext } from "./context.ts";
import { readNewPassword } from "./prompt.ts";
import { validatePhone, validateRoles } from "../accounts/operator.ts";

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
const LINK_HOURS = VERIFICATION_LINK_TTL_SECONDS / 3600;
const VERIFICATION_MAIL = `The mail goes through the outbox: a running server sends it (within MAIL_POLL_INTERVAL_MS), so run this\nwith the server's DATABASE_URL, KEYS_DIR and SMTP_URL. Its link works once, for ${LINK_HOURS} hours; a newer link replaces it.\n--locale (default DEFAULT_LOCALE) is the language of the mail and of the pages the link opens.`;

const INVITATION_DAYS = INVITATION_LINK_TTL_SECONDS / 86_400;
const INVITATION_MAIL = `Needs SIGN_UP=invite (or open) and a configuration that can send mail, as the server has them. The mail\ngoes through the outbox: a running server sends it (within MAIL_POLL_INTERVAL_MS), so run this with the\nserver's DATABASE_URL, KEYS_DIR and SMTP_URL. Its link works once, for ${INVITATION_DAYS} days; inviting the address again\nreplaces it. --locale (default DEFAULT_LOCALE) is the language of the mail and of the pages the link opens.`;

/** Who runs the CLI, for the audit trail and an invitation's invited_by. */
function cliActor(): { actor: string; details?: Record<string, string> } {
  const osUser = osUserName();
  return { actor: "cli", details: osUser ? { os_user: osUser } : undefined };
}

/** The language of a verification mail: --locale, else DEFAULT_LOCALE. */
function mailLocale(locale: string | undefined, ctx: CliContext): string {
  if (locale === undefined) return ctx.config.defaultLocale;
  if (!supportedLocales().includes(locale)) throw new CliUsageError(`--locale must be one of ${supportedLocales().join(", ")}`);
  return locale;
}

/** Queues the verification mail for an existing user, audited as the CLI run by this OS user. */
async function sendVerification(ctx: CliContext, verification: EmailVerification, email: string, locale: string): Promise<void> {
  const osUser = osUserName();
  const user = await verification.send({ email, locale, actor: "cli", details: osUser ? { os_user: osUser } : undefined });
  ctx.out(`verification mail queued for ${user.email} (the link works for ${LINK_HOURS} hours; a running server sends it)`);
}

export const users: CommandGroup = {
  name: "users",
  title: "Users",
  commands: [
    {
      name: "users add",
      usage: ["--email E [--name N] [--verified | --send-verification [--locale L]] [--phone PHONE [--phone-verified]]\n[--role R ...]"],
      summary: "add a user (password from stdin or a prompt)",
      details: `${PASSWORD_INPUT}\nPrints the new user's sub, the id tokens carry. Without a flag the address is unverified (email_verified\nfalse in tokens). --verified (or --email-verified) marks it verified; --send-verification mails the\nperson a link that verifies it when they confirm it.\n${VERIFICATION_MAIL}\n${PHONE_INPUT} --phone-verified marks it as checked.\n--role (repeatable, or a comma-separated list) gives roles: --role admin makes an administrator.`,
      async run(args, ctx) {
        const { values } = parse(args, {
          email: { type: "string" },
          name: { type: "string" },
          verified: { type: "boolean" },
          "email-verified": { type: "boolean" },
          "send-verification": { type: "boolean" },
          locale: { type: "string" },
          phone: { type: "string" },
          "phone-verified": { type: "boolean" },
          role: { type: "string", multiple: true },
        });
        if (!values.email) throw new CliUsageError("--email is required");
        const roles = cliRoles(values.role);
        const verified = values.verified || values["email-verified"];
        const send = values["send-verification"];
        if (verified && send) throw new CliUsageError("--verified and --send-verification exclude each other: choose one");
        if (values.locale !== undefined && !send) throw new CliUsageError("--locale goes with --send-verification");
        const locale = mailLocale(values.locale, ctx);
        const phone = values.phone === undefined ? undefined : cliPhone(values.phone);
        if (values["phone-verified"] && phone === undefined) throw new CliUsageError("--phone-verified needs --phone");
        // Checked before the password is asked for and the user written: mail that cannot go out fails first.
        const verification = send ? await ctx.emailVerification() : undefined;
        const password = await readNewPassword();
        const operator = await ctx.operator();
        const user = await operator.addUser({
          email: values.email,
          name: values.name,
          emailVerified: verified,
          password,
          phone,
          phoneVerified: values["phone-verified"],
          roles,
        });
        ctx.out(`added user ${user.email} (sub ${user.id})${user.roles.length ? ` with roles ${user.roles.join(", ")}` : ""}`);
        if (verification) await sendVerification(ctx, verification, user.email, locale);
      },
    },
    {
      name: "users send-verification",
      usage: ["E [--locale L]"],
      summary: "mail E a link that verifies the address",
      details: `Refuses a verified, disabled or unknown address.\n${VERIFICATION_MAIL}`,
      async run(args, ctx) {
        const { positionals, values } = parse(args, { locale: { type: "string" } }, 1);
        await sendVerification(ctx, await ctx.emailVerification(), positionals[0]!, mailLocale(values.locale, ctx));
      },
    },
    {
      name: "users invite",
      usage: ["--email E [--name N] [--locale L] [--role R ...]"],
      summary: "mail E a link to create their account (SIGN_UP=invite)",
      details: `The person chooses their password on the link's page; the account is created then, its address verified\n(the link came to it), with --name as its name and --role's roles. Refuses an address that has an account.\n${INVITATION_MAIL}`,
      async run(args, ctx) {
        const { values } = parse(args, { email: { type: "string" }, name: { type: "string" }, locale: { type: "string" }, role: { type: "string", multiple: true } });
        if (!values.email) throw new CliUsageError("--email is required");
        const locale = mailLocale(values.locale, ctx);
        const roles = cliRoles(values.role);
        const invitations = await ctx.invitations();
        const invitation = await invitations.invite({ email: values.email, name: values.name, locale, roles, ...cliActor() });
        ctx.out(`invitation mail queued for ${invitation.email} (the link works until ${invitation.expiresAt.toISOString()}; a running server sends it)`);
      },
    },
    {
      name: "users invitations",
      usage: [""],
      summary: "pending invitations: email, invited at, expires, invited by",
      details: "One a line, tab-separated, oldest first; times in ISO 8601, UTC. Used, revoked and expired ones are not listed.",
      async run(args, ctx) {
        parse(args, {});
        const pending = await (await ctx.invitations()).pending();
        if (pending.length === 0) return ctx.out("no pending invitations");
        for (const invitation of pending) {
          ctx.out(`${invitation.email}\t${invitation.createdAt.toISOString()}\t${invitation.expiresAt.toISOString()}\t${invitation.invitedBy}`);
        }
      },
    },
    {
      name: "users uninvite",
      usage: ["E"],
      summary: "revoke E's pending invitation (its link stops working)",
      async run(args, ctx) {
        const { positionals } = parse(args, {}, 1);
        const revoked = await (await ctx.invitations()).revoke({ email: positionals[0]!, ...cliActor() });
        ctx.out(`revoked the invitation of ${revoked.email}`);
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
      name: "users roles",
      usage: ["E [--add R ...] [--remove R ...]"],
      summary: "show E's roles, or add and remove some",
      details:
        "--add and --remove are repeatable and take comma-separated lists. Role names are lower-case letters,\ndigits and _ . : - (starting with a letter). `admin` opens the admin console. ID tokens of clients\nadded with --roles-claim carry them as `roles` from the next token on.",
      async run(args, ctx) {
        const { positionals, values } = parse(args, { add: { type: "string", multiple: true }, remove: { type: "string", multiple: true } }, 1);
        const email = positionals[0]!;
        const add = cliRoles(values.add);
        const remove = cliRoles(values.remove);
        const user =
          add.length || remove.length
            ? await (await ctx.operator()).setRoles(email, { add, remove })
            : await (await ctx.stores()).users.findByEmail(email);
        if (!user) throw new Error(`no user with email ${email}`);
        ctx.out(`${user.email}\t${user.roles.length ? user.roles.join(",") : "-"}`);
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
      name: "users show",
      usage: ["E"],
      summary: "E's account: sub, state, sign-in methods, sessions, lockout",
      details: "One fact a line: the sub, whether the address is verified and the account active, the phone number,\nthe password, the authenticator app (on, off, being set up) and recovery codes left, the active sessions\nand the last sign-in, and whether E is locked out. Needs the server's DATABASE_URL and REDIS_URL.",
      async run(args, ctx) {
        const { positionals } = parse(args, {}, 1);
        const user = await (await ctx.stores()).users.findByEmail(positionals[0]!);
        if (!user) throw new CliUsageError(`no user with email ${positionals[0]}`);
        const state = await (await ctx.secondFactors()).show(user.id, user.email);
        const lines: [string, string][] = [
          ["email", `${user.email} (${user.emailVerified ? "verified" : "unverified"})`],
          ["sub", user.id],
          ["name", user.name ?? "-"],
          ["state", user.disabled ? "disabled" : "active"],
          ["phone", user.phone ? `${user.phone}${user.phoneVerified ? " (verified)" : ""}` : "-"],
          ["password", user.passwordHash ? "set" : "none"],
          ["authenticator app", state.totp],
          ["recovery codes", `${state.recoveryCodesLeft} left`],
          ["sessions", `${state.sessions}${state.lastSignIn ? ` (last sign-in ${state.lastSignIn.toISOString()})` : ""}`],
          ["locked", state.lockedForSeconds === undefined ? "no" : `for ${state.lockedForSeconds} more seconds (idp users unlock ${user.email})`],
        ];
        for (const [label, value] of lines) ctx.out(`${label.padEnd(18)}${value}`);
      },
    },
    {
      name: "users reset-mfa",
      usage: ["E"],
      summary: "remove E's authenticator app and recovery codes (a lost device)",
      details:
        "E is signed out everywhere, then signs in with the password alone, unless MFA=required or a client\nrequires a second factor: then E sets up a new app while signing in. The same action as the admin API's\nand console's reset factors. Audited (mfa.reset, user.factors_reset); E is told by mail where this\nconfiguration can send mail (run it with the server's KEYS_DIR and SMTP_URL). Check who is asking first:\nthis is what an attacker who knows the password would ask for.",
      async run(args, ctx) {
        const { positionals } = parse(args, {}, 1);
        const found = await (await ctx.stores()).users.findByEmail(positionals[0]!);
        if (!found) throw new CliUsageError(`no user with email ${positionals[0]}`);
        const { user, details } = await (await ctx.operator()).resetFactors({ id: found.id });
        const removed = { totp: details.second_factors?.totp === true, recoveryCodes: Number(details.second_factors?.recovery_codes ?? 0) };
        ctx.out(
          removed.totp || removed.recoveryCodes > 0
            ? `removed ${user.email}'s authenticator app${removed.recoveryCodes > 0 ? ` and ${removed.recoveryCodes} recovery codes` : ""}`
            : `${user.email} had no authenticator app or recovery codes; nothing removed (recorded all the same)`,
        );
      },
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
      name: "users delete",
      usage: ["E"],
      summary: "delete E's account for good (a data-protection request)",
      details:
        "Deletes the account, its one-time tokens and codes, and its sessions and grants (its refresh tokens stop\nworking; access tokens end within ACCESS_TOKEN_TTL). Webhook endpoints get user.deleted with the sub only.\nThe audit trail records the deletion by sub; older audit events keep the address until AUDIT_RETENTION_DAYS.",
      async run(args, ctx) {
        const { positionals } = parse(args, {}, 1);
        const user = await (await ctx.operator()).deleteUser(positionals[0]!);
        ctx.out(`deleted ${user.email} (sub ${user.id})`);
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

/** Roles from repeated and/or comma-separated flags, validated (a usage error says what is wrong). */
function cliRoles(given: string[] | undefined): string[] {
  try {
    return validateRoles((given ?? []).flatMap((value) => value.split(",")));
  } catch (error) {
    throw new CliUsageError((error as Error).message);
  }
}

async function setDisabled(args: string[], ctx: CliContext, disabled: boolean): Promise<void> {
  const { positionals } = parse(args, {}, 1);
  await (await ctx.operator()).setDisabled(positionals[0]!, disabled);
  ctx.out(`${disabled ? "disabled" : "enabled"} ${positionals[0]}`);
}
