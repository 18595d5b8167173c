// Preloaded into a profiled IdP child (`node --import ./bench/count-queries.ts ...`): counts the
// queries its pg clients send (each one a round trip to PostgreSQL), by statement, and prints the
// counts as one JSON line on SIGUSR2.
import pg from "pg";

const counts: Record<string, number> = {};
const prototype = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
const query = prototype.query;

/** A statement's gist: its first words, whitespace collapsed, without the values. */
function gist(config: unknown): string {
  const text = typeof config === "string" ? config : ((config as { text?: string } | undefined)?.text ?? "(prepared)");
  return text.replace(/\s+/g, " ").trim().slice(0, 60);
}

prototype.query = function (this: unknown, ...args: unknown[]) {
  const key = gist(args[0]);
  counts[key] = (counts[key] ?? 0) + 1;
  return query.apply(this, args);
};
process.on("SIGUSR2", () => process.stderr.write(`bench-queries ${JSON.stringify(counts)}\n`));
