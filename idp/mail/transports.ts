// Where mail goes: an SMTP server (SMTP_URL) through nodemailer, every step bounded by
// MAIL_SEND_TIMEOUT; or, in development without SMTP_URL, .eml files in DATA_DIR/outbox/ with
// their links in the log, so `npm start` alone can walk every flow that sends mail.
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import nodemailer from "nodemailer";
import { parseConnectionUrl } from "nodemailer/lib/shared";
import { LOOPBACK_NAMES } from "../http/authority.ts";
import type { FastifyBaseLogger } from "fastify";
import type { Config } from "../config.ts";

/** A mail ready to go: rendered, addressed. `links` are logged by the development outbox only. */
export type OutgoingMail = { to: string; subject: string; text: string; html: string; links: string[] };

export type MailTransport = {
  /** "smtp", or "file" for the development outbox. */
  kind: "smtp" | "file";
  /** Resolves once the server (or the file) has the mail; rejects otherwise. */
  send(mail: OutgoingMail): Promise<void>;
  close(): void;
};

// RFC 3834: marks the mail as machine-sent, so out-of-office replies stay away.
const HEADERS = { "Auto-Submitted": "auto-generated" };

/** MAIL_FROM as nodemailer takes it: as given when it names itself, else with BRAND_NAME as its name. */
export function sender(config: Pick<Config, "mailFrom" | "brandName">): string | { name: string; address: string } {
  const from = config.mailFrom.trim();
  return from.includes("<") ? from : { name: config.brandName, address: from };
}

/**
 * The connection options of SMTP_URL. smtp:// speaks STARTTLS whenever the server offers it, and in
 * production insists on it for any server off this machine (someone on the path could strip the
 * offer and read the reset links), unless the URL says ?requireTLS=false; smtps:// is TLS from the start.
 */
export function smtpConnection(config: Pick<Config, "smtpUrl" | "production">): ReturnType<typeof parseConnectionUrl> {
  const options = parseConnectionUrl(config.smtpUrl!);
  const url = new URL(config.smtpUrl!);
  const local = LOOPBACK_NAMES.includes(url.hostname);
  if (config.production && !options.secure && !local && !url.searchParams.has("requireTLS")) options.requireTLS = true;
  return options;
}

export function smtpTransport(config: Pick<Config, "smtpUrl" | "production" | "mailFrom" | "brandName" | "mailSendTimeoutSeconds">): MailTransport {
  const timeout = config.mailSendTimeoutSeconds * 1000;
  const transporter = nodemailer.createTransport({
    ...smtpConnection(config),
    // A few connections kept open and reused: a sign-in code should not pay a TLS handshake and a
    // login each (an idle one closes after the socket timeout; a broken one is replaced).
    pool: true,
    maxConnections: 3,
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout,
    // The mails are built here from strings: never let a value make nodemailer read a file or a URL.
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  const from = sender(config);
  return {
    kind: "smtp",
    async send(mail) {
      await transporter.sendMail({ from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html, headers: HEADERS });
    },
    close: () => transporter.close(),
  };
}

/** The development outbox: each mail as an .eml file (mode 0600), its links logged. */
export function fileTransport(
  config: Pick<Config, "dataDir" | "mailFrom" | "brandName">,
  log: Pick<FastifyBaseLogger, "info">,
): MailTransport {
  const dir = path.join(config.dataDir, "outbox");
  const transporter = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: "unix" });
  const from = sender(config);
  return {
    kind: "file",
    async send(mail) {
      const info = await transporter.sendMail({ from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html, headers: HEADERS });
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const file = path.join(dir, `${new Date().toISOString().replace(/[:.]/g, "-")}-${randomBytes(4).toString("hex")}.eml`);
      await writeFile(file, info.message as Buffer, { mode: 0o600 });
      log.info({ file, to: mail.to, subject: mail.subject, links: mail.links }, "mail written to the development outbox (SMTP_URL is not set)");
    },
    close: () => transporter.close(),
  };
}

/** Whether the configuration can send mail at all: SMTP_URL, or development's file outbox. */
export function canSendMail(config: Pick<Config, "smtpUrl" | "production">): boolean {
  return !!config.smtpUrl || !config.production;
}

/** The transport the configuration asks for: SMTP when SMTP_URL is set, files in development, none in production. */
export function mailTransport(config: Config, log: Pick<FastifyBaseLogger, "info">): MailTransport | undefined {
  if (!canSendMail(config)) return undefined;
  return config.smtpUrl ? smtpTransport(config) : fileTransport(config, log);
}
