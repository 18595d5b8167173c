// The benchmark's mail server: a real SMTP server (smtp-server) in the bench process that our IdP
// sends its codes to, as it would to a relay (STARTTLS offered, AUTH required). It parses only the
// text part of each mail, takes the 6-digit code from its own line, and hands it to the virtual
// client waiting for that address. The code is read from the mail, never from the database (which
// holds only its HMAC).
import { simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";
import { freePort } from "../test/support/idp.ts";

const USER = "bench";
const PASSWORD = "bench smtp password";
/** A code on a line of its own, as the mail's text shows it. */
const CODE_LINE = /^\s+(\d{6})$/m;
const WAIT_MS = 30_000;

export type Mailbox = {
  /** SMTP_URL for the IdP (the built-in self-signed certificate accepted). */
  url: string;
  /**
   * Starts waiting for the next code mailed to `address` (call it before the request that sends
   * one); the promise fails if none comes within 30 s or the mail has no code.
   */
  expectCode(address: string): Promise<string>;
  /** Mails received, and those that carried no code. */
  counts(): { received: number; withoutCode: number };
  stop(): Promise<void>;
};

type Waiter = { resolve: (code: string) => void; reject: (error: Error) => void; timer: NodeJS.Timeout };

export async function startMailbox(): Promise<Mailbox> {
  const waiters = new Map<string, Waiter>();
  let received = 0;
  let withoutCode = 0;

  const deliver = (address: string, code: string | undefined) => {
    const waiter = waiters.get(address);
    if (!waiter) return; // nobody waits (a mail after its waiter gave up): dropped
    waiters.delete(address);
    clearTimeout(waiter.timer);
    if (code) waiter.resolve(code);
    else waiter.reject(new Error(`the mail to ${address} carried no code`));
  };

  const server = new SMTPServer({
    logger: false,
    closeTimeout: 1000,
    onAuth: (auth, _session, callback) =>
      auth.username === USER && auth.password === PASSWORD ? callback(null, { user: USER }) : callback(new Error("invalid credentials")),
    onData: (stream, session, callback) => {
      // Only the text part matters: no HTML to text, no links, no inline images.
      simpleParser(stream, { skipHtmlToText: true, skipTextToHtml: true, skipTextLinks: true, skipImageLinks: true }).then(
        (mail) => {
          received++;
          const code = CODE_LINE.exec(mail.text ?? "")?.[1];
          if (!code) withoutCode++;
          for (const to of session.envelope.rcptTo) deliver(to.address.toLowerCase(), code);
          callback();
        },
        (error: Error) => callback(error),
      );
    },
  });
  server.on("error", () => {});
  const port = await freePort();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });

  return {
    url: `smtp://${USER}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}/?tls.rejectUnauthorized=false`,
    expectCode(address) {
      const key = address.toLowerCase();
      const earlier = waiters.get(key);
      if (earlier) {
        clearTimeout(earlier.timer);
        earlier.reject(new Error(`a newer wait for ${address} replaced this one`));
      }
      const code = new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          if (waiters.get(key)?.timer === timer) waiters.delete(key);
          reject(new Error(`no mail to ${address} within ${WAIT_MS} ms`));
        }, WAIT_MS);
        waiters.set(key, { resolve, reject, timer });
      });
      // Handled here too: a caller whose request failed before it awaits leaves no unhandled rejection.
      code.catch(() => {});
      return code;
    },
    counts: () => ({ received, withoutCode }),
    async stop() {
      for (const waiter of waiters.values()) clearTimeout(waiter.timer);
      waiters.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
