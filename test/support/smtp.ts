// A real SMTP server in the test process (smtp-server): it offers STARTTLS (its built-in
// self-signed certificate) and requires AUTH, keeps every mail it receives parsed by mailparser,
// and can be stopped and started again on the same port to play an outage. Also a "hanging"
// server that accepts connections and never greets, for a slow SMTP server.
import net from "node:net";
import { SMTPServer } from "smtp-server";
import { simpleParser, type ParsedMail } from "mailparser";
import { freePort } from "./idp.ts";

export type ReceivedMail = ParsedMail & { envelopeTo: string[]; secure: boolean; user: string | undefined };

export const SMTP_USER = "idp";
export const SMTP_PASSWORD = "smtp secret";

export class TestMailServer {
  readonly mails: ReceivedMail[] = [];
  readonly port: number;
  private server: SMTPServer | undefined;
  private waiters: (() => void)[] = [];
  private readonly options: { starttls: boolean };

  private constructor(port: number, options: { starttls: boolean }) {
    this.port = port;
    this.options = options;
  }

  /** Starts a server on a free port (or the given one). */
  static async start(options: { port?: number; starttls?: boolean } = {}): Promise<TestMailServer> {
    const server = new TestMailServer(options.port ?? (await freePort()), { starttls: options.starttls ?? true });
    await server.listen();
    return server;
  }

  /**
   * SMTP_URL for the IdP: credentials, and the test server's self-signed certificate accepted
   * (nodemailer upgrades with STARTTLS whenever the server offers it).
   */
  url(query: Record<string, string> = {}): string {
    const params = new URLSearchParams({ "tls.rejectUnauthorized": "false", ...query });
    return `smtp://${encodeURIComponent(SMTP_USER)}:${encodeURIComponent(SMTP_PASSWORD)}@127.0.0.1:${this.port}/?${params}`;
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  async listen(): Promise<void> {
    const server = new SMTPServer({
      disabledCommands: this.options.starttls ? [] : ["STARTTLS"],
      // Without STARTTLS the server still takes AUTH, so requireTLS is what must stop the client.
      allowInsecureAuth: !this.options.starttls,
      logger: false,
      closeTimeout: 1000,
      onAuth: (auth, _session, callback) => {
        if (auth.username === SMTP_USER && auth.password === SMTP_PASSWORD) return callback(null, { user: auth.username });
        return callback(new Error("invalid credentials"));
      },
      onData: (stream, session, callback) => {
        simpleParser(stream).then(
          (parsed) => {
            this.mails.push(
              Object.assign(parsed, {
                envelopeTo: session.envelope.rcptTo.map((to) => to.address),
                secure: session.secure,
                user: session.user as string | undefined,
              }),
            );
            for (const wake of this.waiters.splice(0)) wake();
            callback();
          },
          (error: Error) => callback(error),
        );
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    server.on("error", () => {});
    this.server = server;
  }

  /** Stops accepting mail: connections are refused until listen() again. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The mails sent to an address. */
  to(address: string): ReceivedMail[] {
    return this.mails.filter((mail) => mail.envelopeTo.includes(address));
  }

  /** Waits until `count` mails to the address have arrived (or fails after timeoutMs). */
  async waitFor(address: string, count = 1, timeoutMs = 15_000): Promise<ReceivedMail[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.to(address).length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${count} mail(s) to ${address} within ${timeoutMs} ms, got ${this.to(address).length}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.to(address);
  }
}

/** The reset link in a mail's text: its token. */
export function resetToken(mail: ParsedMail): string {
  const token = /\/reset\/([A-Za-z0-9_-]{43})\b/.exec(mail.text ?? "")?.[1];
  if (!token) throw new Error(`no reset link in:\n${mail.text}`);
  return token;
}

/** The email verification link in a mail's text: its token. */
export function verificationToken(mail: ParsedMail): string {
  const token = /\/verify-email\/([A-Za-z0-9_-]{43})\b/.exec(mail.text ?? "")?.[1];
  if (!token) throw new Error(`no verification link in:\n${mail.text}`);
  return token;
}

/** The invitation link in a mail's text: its token. */
export function invitationToken(mail: ParsedMail): string {
  const token = /\/invite\/([A-Za-z0-9_-]{43})\b/.exec(mail.text ?? "")?.[1];
  if (!token) throw new Error(`no invitation link in:\n${mail.text}`);
  return token;
}

/** A server that accepts connections and says nothing, like an SMTP server that hangs. */
export async function startHangingServer(port?: number): Promise<{ port: number; sockets: net.Socket[]; close(): Promise<void> }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => {});
  });
  const listenOn = port ?? (await freePort());
  await new Promise<void>((resolve) => server.listen(listenOn, "127.0.0.1", () => resolve()));
  return {
    port: listenOn,
    sockets,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
