// The `idp` command's table (one row per noun module), the dispatcher that finds a command in it,
// and `idp help [<command>]`. A new noun is one module exporting a CommandGroup plus one row here.
import { loadConfig } from "../config.ts";
import { audit } from "./audit.ts";
import { clients } from "./clients.ts";
import { CliUsageError, type Command, type CommandGroup } from "./command.ts";
import { withCliContext, type CliOutput } from "./context.ts";
import { convex } from "./convex.ts";
import { doctor } from "./doctor.ts";
import { keys } from "./keys.ts";
import { server } from "./server.ts";
import { users } from "./users.ts";
import { webhooks } from "./webhooks.ts";
import { upstreams } from "./upstreams.ts";

export { CliUsageError };

/** Every command, by noun, in the order `idp help` lists them. */
export const COMMAND_GROUPS: readonly CommandGroup[] = [server, users, clients, keys, audit, convex, webhooks, upstreams, doctor];

const HELP_FLAGS = ["--help", "-h"];

/**
 * Runs `idp ...argv`. Returns the exit status (undefined: 0); errors are thrown for bin.ts to print,
 * a CliUsageError with a pointer to `idp help`. `idp` alone, `idp help` and a noun without its
 * verb (`idp users`) print help and succeed.
 */
export async function runCli(argv: string[], env: NodeJS.ProcessEnv = process.env, output: CliOutput = process): Promise<number | void> {
  const print = (text: string) => void output.stdout.write(text + "\n");
  const [first, second] = argv;
  if (first === undefined || first === "help" || HELP_FLAGS.includes(first)) return print(helpFor(argv.slice(1)));

  const found = findCommand(argv);
  if (!found) {
    const group = nounGroup(first);
    if (group && (second === undefined || HELP_FLAGS.includes(second))) return print(groupHelp(group));
    throw new CliUsageError(`unknown command "${argv.slice(0, 2).join(" ")}"`);
  }
  const { command, args } = found;
  if (args.some((arg) => HELP_FLAGS.includes(arg))) return print(commandHelp(command));
  const config = loadConfig(env);
  return withCliContext(config, output, (ctx) => command.run(args, ctx));
}

const allCommands = () => COMMAND_GROUPS.flatMap((group) => group.commands);

/** The command named by the first two words, else by the first word alone, with the words after its name. */
function findCommand(words: string[]): { command: Command; args: string[] } | undefined {
  for (const count of [2, 1]) {
    if (words.length < count) continue;
    const name = words.slice(0, count).join(" ");
    const command = allCommands().find((candidate) => candidate.name === name);
    if (command) return { command, args: words.slice(count) };
  }
  return undefined;
}

/** The group whose commands are `<noun> <verb>`, for a noun typed alone. */
function nounGroup(noun: string): CommandGroup | undefined {
  return COMMAND_GROUPS.find((group) => group.name === noun && group.commands.some((command) => command.name.startsWith(`${noun} `)));
}

/** `idp help` with the words after it: the overview, one group, or one command. */
function helpFor(words: string[]): string {
  if (words.length === 0) return overview();
  const found = findCommand(words);
  if (found && found.args.length === 0) return commandHelp(found.command);
  const group = words.length === 1 ? COMMAND_GROUPS.find((candidate) => candidate.name === words[0]) : undefined;
  if (group) return groupHelp(group);
  throw new CliUsageError(`unknown command "${words.join(" ")}"`);
}

// Summaries start in this column of the list, as `idp help` always printed them.
const SUMMARY_COLUMN = 41;
const INDENT = "  ";

type Listed = Pick<Command, "name" | "usage" | "summary">;

/** A command's synopsis lines: each form after its name, continuation lines under the form's first word. */
function synopsis(command: Listed): string[] {
  return command.usage.flatMap((form) => {
    const [head = "", ...more] = form.split("\n");
    const hang = " ".repeat(command.name.length + 1);
    return [head ? `${command.name} ${head}` : command.name, ...more.map((line) => hang + line)];
  });
}

/** One command in a list: its synopsis, and its summary in the summary column (beside a short synopsis, else below). */
function listEntry(command: Listed): string[] {
  const lines = synopsis(command).map((line) => INDENT + line);
  const [first, ...rest] = command.summary.split("\n");
  const pad = " ".repeat(SUMMARY_COLUMN);
  const besides = lines.length === 1 && lines[0]!.length <= SUMMARY_COLUMN - 2;
  if (besides) lines[0] = lines[0]!.padEnd(SUMMARY_COLUMN) + first;
  else lines.push(pad + first);
  return [...lines, ...rest.map((line) => pad + line)];
}

function overview(): string {
  return [
    "Usage: idp <command>",
    ...COMMAND_GROUPS.flatMap((group) => ["", group.title, ...group.commands.flatMap(listEntry)]),
    "",
    "Help",
    ...listEntry({
      name: "help",
      usage: ["[<command>]"],
      summary: "this list, or one noun's commands (idp help users)\nor one command in full (idp help clients add)",
    }),
    "",
    "Configuration comes from environment variables; see README.md.",
  ].join("\n");
}

function groupHelp(group: CommandGroup): string {
  const example = group.commands[0]!.name;
  return [group.title, "", ...group.commands.flatMap(listEntry), "", `\`idp help <command>\` shows one in full, e.g. \`idp help ${example}\`.`].join("\n");
}

function commandHelp(command: Command): string {
  const forms = command.usage.map((form) => form.split("\n"));
  const lines = forms.flatMap((form, index) => {
    const lead = index === 0 ? "Usage: idp " : "   or: idp ";
    const hang = " ".repeat(lead.length + command.name.length + 1);
    const [head = "", ...more] = form;
    return [lead + (head ? `${command.name} ${head}` : command.name), ...more.map((line) => hang + line)];
  });
  const summary = command.summary.replace(/\n/g, " ");
  return [...lines, "", summary.charAt(0).toUpperCase() + summary.slice(1) + ".", ...(command.details ? ["", command.details] : [])].join("\n");
}
