// What a CLI command is (its name, usage text and handler), what a noun's module exports, the
// argument parser the handlers share, and the usage error that makes bin.ts point at `idp help`.
import { parseArgs, type ParseArgsConfig } from "node:util";
import type { CliContext } from "./context.ts";

export class CliUsageError extends Error {
  override name = "CliUsageError";
}

export type Command = {
  /** The words after `idp` that run it: "users add", or one word for a command without a noun ("serve"). */
  name: string;
  /**
   * The ways to call it, each what follows the name ("--email E [--name N]"; "" when it takes
   * nothing). A form may continue on further lines ("\n"); help indents them under the first.
   */
  usage: string[];
  /** What it does, for the list in `idp help`; may run to a second line. */
  summary: string;
  /** More for `idp help <command>`: what it prints, what each flag means. */
  details?: string;
  /** Runs it with the words after its name; a number is the exit status (default 0). */
  run(args: string[], ctx: CliContext): Promise<number | void>;
};

/** One noun's commands, exported by its module (users.ts, clients.ts, ...): one row of the table in commands.ts. */
export type CommandGroup = {
  /** The noun as typed: `idp help users`. */
  name: string;
  /** A heading for the group in `idp help`. */
  title: string;
  commands: Command[];
};

/** Parses a command's arguments strictly: unknown flags and a wrong number of positionals are usage errors. */
export function parse<T extends NonNullable<ParseArgsConfig["options"]>>(args: string[], options: T, positionals = 0) {
  try {
    const parsed = parseArgs({ args, options, allowPositionals: positionals > 0, strict: true });
    if (parsed.positionals.length !== positionals) throw new CliUsageError(`expected ${positionals} argument(s)`);
    return parsed;
  } catch (error) {
    throw new CliUsageError((error as Error).message);
  }
}
