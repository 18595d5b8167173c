// `idp audit`: the audit trail, filtered by --user, --since and --limit, one event a line.
import type { StoredAuditEvent } from "../store/audit.ts";
import { parse, type CommandGroup } from "./command.ts";

export const audit: CommandGroup = {
  name: "audit",
  title: "Audit trail",
  commands: [
    {
      name: "audit",
      usage: ["[--user E] [--since T] [--limit N]"],
      summary: "the audit trail, oldest first (T: ISO date/time or 30m, 24h, 7d;\nN: the most recent N events, default 1000)",
      details: [
        "--user E   one person's events: an email (any case) or a user id (sub)",
        "--since T  2025-01-31, 2025-01-31T12:00:00Z (UTC unless a zone is given), or 30m, 24h, 7d back",
        "--limit N  the most recent N events, 1 to 100000, still printed oldest first",
        "",
        "Each line: time, event, actor, email (or user id), client, IP, details as JSON; tab-separated,",
        "\"-\" where there is none.",
      ].join("\n"),
      async run(args, ctx) {
        const { values } = parse(args, { user: { type: "string" }, since: { type: "string" }, limit: { type: "string" } });
        const filter = {
          email: values.user,
          since: values.since === undefined ? undefined : parseSince(values.since, new Date()),
          limit: values.limit === undefined ? undefined : parseLimit(values.limit),
        };
        const events = await (await ctx.stores()).audit.list(filter);
        if (events.length === 0) return ctx.out("no events");
        for (const event of events) ctx.out(formatAuditEvent(event));
      },
    },
  ],
};

/** Bad input to `idp audit`: one line, no usage hint. */
export class AuditInputError extends Error {
  override name = "AuditInputError";
}

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const MAX_LIMIT = 100_000;

/** An ISO 8601 date or date-time (`2025-01-31`, `2025-01-31T12:00:00Z`; UTC unless a zone is given), or a duration back from now (`30m`, `24h`, `7d`). */
export function parseSince(value: string, now: Date): Date {
  const relative = /^(\d{1,6})([smhdw])$/.exec(value.trim());
  if (relative) return new Date(now.getTime() - Number(relative[1]) * UNIT_MS[relative[2] as keyof typeof UNIT_MS]);
  const iso = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?)(Z|[+-]\d{2}:\d{2})?)?$/i.exec(value.trim());
  // Like the output, a time without a zone is UTC (JavaScript alone would read it as local time).
  const date = iso ? new Date(`${iso[1]}T${iso[2] ?? "00:00"}${iso[3] ?? "Z"}`) : undefined;
  const day = iso ? new Date(`${iso[1]}T00:00Z`) : undefined;
  const realDay = day !== undefined && !Number.isNaN(day.getTime()) && day.toISOString().startsWith(iso![1]!); // not 2025-02-30
  if (!date || Number.isNaN(date.getTime()) || !realDay) {
    throw new AuditInputError(`--since "${value}" is neither an ISO date/time (2025-01-31, 2025-01-31T12:00:00Z) nor a duration (30m, 24h, 7d)`);
  }
  return date;
}

export function parseLimit(value: string): number {
  const limit = /^\d{1,9}$/.test(value.trim()) ? Number(value.trim()) : NaN;
  if (!(limit >= 1 && limit <= MAX_LIMIT)) throw new AuditInputError(`--limit "${value}" must be a whole number from 1 to ${MAX_LIMIT}`);
  return limit;
}

// Emails and user agents in the trail can be typed by anyone: no control characters reach the terminal.
const printable = (text: string) =>
  text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

/** time, event, actor, email (or user id), client, ip, details as compact JSON; tab-separated, "-" when empty. */
export function formatAuditEvent(event: StoredAuditEvent): string {
  return [
    event.occurredAt.toISOString(),
    event.event,
    event.actor,
    event.email ?? event.userId ?? "-",
    event.clientId ?? "-",
    event.ip ?? "-",
    JSON.stringify(event.details ?? {}),
  ]
    .map(printable)
    .join("\t");
}
