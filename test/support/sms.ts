// Real HTTP servers on 127.0.0.1 that SMS go to in tests: one in the shape of Twilio's Messages
// API (it checks the path, the Basic credentials and the form fields as Twilio does, and records
// what it accepts), and a webhook receiver that checks each request's signature as an operator's
// would. Either can be told to answer the next requests with an error, or not at all.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { SIGNATURE_HEADER, verifyWebhookSignature } from "../../idp/sms/webhook-signature.ts";

export type ReceivedSms = { to: string; body: string; from?: string; messagingServiceSid?: string; id?: string };
/** The number Twilio calls invalid (error 21211), as with its test credentials. */
export const INVALID_NUMBER = "+15005550001";

type Failure = { status: number; body?: unknown } | "hang";

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function json(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

/** What both servers share: listening, the failure queue, and waiting for a message. */
abstract class SmsTestServer {
  readonly messages: ReceivedSms[] = [];
  /** Every request that reached the server, accepted or not. */
  requests = 0;
  private failures: Failure[] = [];
  private hanging = new Set<ServerResponse>();
  protected server!: Server;

  protected async listen(): Promise<void> {
    this.server = createServer((request, response) => {
      this.requests += 1;
      const failure = this.failures.shift();
      if (failure === "hang") {
        this.hanging.add(response);
        return;
      }
      if (failure) return json(response, failure.status, failure.body ?? { message: "failure asked for by the test" });
      this.handle(request, response).catch((error: Error) => json(response, 500, { message: error.message }));
    });
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
  }

  protected abstract handle(request: IncomingMessage, response: ServerResponse): Promise<void>;

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** The next requests get these answers (a status and JSON body), or none at all ("hang"), in order. */
  failNext(...failures: Failure[]): void {
    this.failures.push(...failures);
  }

  async waitFor(to: string, timeoutMs = 15_000): Promise<ReceivedSms> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find((message) => message.to === to);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no SMS to ${to} within ${timeoutMs} ms (got ${this.messages.length})`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  async stop(): Promise<void> {
    for (const response of this.hanging) response.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Twilio's POST /2010-04-01/Accounts/{sid}/Messages.json, with its error shapes. */
export class FakeTwilio extends SmsTestServer {
  readonly accountSid: string;
  readonly authToken: string;

  private constructor(accountSid: string, authToken: string) {
    super();
    this.accountSid = accountSid;
    this.authToken = authToken;
  }

  static async start(accountSid = "AC0123456789abcdef0123456789abcdef", authToken = "test-auth-token-0123456789"): Promise<FakeTwilio> {
    const server = new FakeTwilio(accountSid, authToken);
    await server.listen();
    return server;
  }

  url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  protected async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = new URL(request.url ?? "/", "http://x").pathname;
    if (request.method !== "POST" || path !== `/2010-04-01/Accounts/${this.accountSid}/Messages.json`) {
      return json(response, 404, { code: 20404, message: "The requested resource was not found", status: 404 });
    }
    const expected = `Basic ${Buffer.from(`${this.accountSid}:${this.authToken}`).toString("base64")}`;
    if (request.headers.authorization !== expected) return json(response, 401, { code: 20003, message: "Authenticate", status: 401 });
    if (!request.headers["content-type"]?.startsWith("application/x-www-form-urlencoded")) {
      return json(response, 415, { message: "form body expected", status: 415 });
    }
    const form = new URLSearchParams(await readBody(request));
    const to = form.get("To");
    const body = form.get("Body");
    const from = form.get("From") ?? undefined;
    const messagingServiceSid = form.get("MessagingServiceSid") ?? undefined;
    if (!to) return json(response, 400, { code: 21604, message: "A 'To' phone number is required.", status: 400 });
    if (!body) return json(response, 400, { code: 21602, message: "Message body is required.", status: 400 });
    if ((from === undefined) === (messagingServiceSid === undefined)) {
      return json(response, 400, { code: 21603, message: "A 'From' phone number or MessagingServiceSid is required.", status: 400 });
    }
    // Twilio's test credentials answer 21211 for +15005550001, as the live API does for a number it cannot reach.
    if (!/^\+[1-9]\d{6,14}$/.test(to) || to === INVALID_NUMBER) return json(response, 400, { code: 21211, message: `The 'To' number ${to} is not a valid phone number.`, status: 400 });
    this.messages.push({ to, body, from, messagingServiceSid });
    json(response, 201, { sid: `SM${String(this.messages.length).padStart(32, "0")}`, status: "queued", to, body });
  }
}

/** An operator's webhook: refuses (401) a request whose X-Idp-Signature does not check out with its secret. */
export class WebhookReceiver extends SmsTestServer {
  /** Requests refused for their signature. */
  refused = 0;

  readonly secret: string;

  private constructor(secret: string) {
    super();
    this.secret = secret;
  }

  static async start(secret: string): Promise<WebhookReceiver> {
    const server = new WebhookReceiver(secret);
    await server.listen();
    return server;
  }

  url(): string {
    return `http://127.0.0.1:${this.port}/sms`;
  }

  protected async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const raw = await readBody(request);
    const header = request.headers[SIGNATURE_HEADER.toLowerCase()];
    if (!verifyWebhookSignature(this.secret, typeof header === "string" ? header : undefined, raw, Math.floor(Date.now() / 1000))) {
      this.refused += 1;
      return json(response, 401, { error: "bad signature" });
    }
    const { to, body, id } = JSON.parse(raw) as ReceivedSms;
    this.messages.push({ to, body, id });
    response.writeHead(204).end();
  }
}
