#!/usr/bin/env node
// The `idp` command: hands the command line to cli/commands.ts, which finds the command in its
// table. Errors are one line on stderr and exit status 1.
import "./thread-pool.ts";
import { runCli, CliUsageError } from "./commands.ts";

try {
  const code = await runCli(process.argv.slice(2));
  if (code !== undefined) process.exitCode = code;
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`idp: ${message}\n`);
  if (error instanceof CliUsageError) process.stderr.write("Run `idp help` for usage.\n");
  process.exitCode = 1;
}
