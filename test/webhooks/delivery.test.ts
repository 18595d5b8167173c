// Webhooks end to end: endpoints added with the real CLI, events made by the operator's actions,
// delivered by the server's worker to a real local receiver that checks each Standard Webhooks
// signature. A receiver that is down (closed port, then failing answers) gets every event once it
// is back, in order per user, also when the IdP restarted meanwhile (a new app on the same database).
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp } from "../../idp/app.ts";
import { loadKeyMaterial } from "../../idp/keys/key-material.ts";
import { cliOk, lines, runCli } from "../audit/run-cli.ts";
import { freePort, startTestIdp, type TestIdp } from "../support/idp.ts";

type Received = { path: string; id: string; type: string; data: Record<string, unknown>; verified: boolean; answered: number };

/** A webhook receiver on a fixed port that can go away and come back; it records every request. */
class Receiver {
  readonly received: Received[] = [];
  /** Answer this many requests with 503 before taking any. */
  failNext = 0;
  private server: http.Server | undefined;
  readonly port: number;
  private readonly secrets: Map<string, string>;
  constructor(port: number, secrets: Map<string, string>) {
    this.port = port;
    this.secrets = secrets;
  }

  static async start(secrets: Map<string, string>): Promise<Receiver> {
    const receiver = new Receiver(await freePort(), secrets);
    await receiver.listen();
    return receiver;
  }

  url(path: string) {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  async listen(): Promise<void> {
    this.server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        const path = request.url ?? "";
        const headers = Object.fromEntries(Object.entries(request.headers).map(([name, value]) => [name, String(value)]));
        let verified = false;
        try {
          new Webhook(this.secrets.get(path)!).verify(body, headers);
          verified = true;
        } catch {
          // recorded as unverified
        }
        const answered = this.failNext > 0 ? (this.failNext--, 503) : verified ? 204 : 401;
        const parsed = JSON.parse(body) as { type: string; data: Record<string, unknown> };
        this.received.push({ path, id: headers["webhook-id"]!, type: parsed.type, data: parsed.data, verified, answered });
        response.statusCode = answered;
        response.end();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, "127.0.0.1", resolve));
    expect((this.server.address() as AddressInfo).port).toBe(this.port);
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }

  /** The requests to a path that were taken (2xx). */
  taken(path: string) {
    return this.received.filter((entry) => entry.path === path && entry.answered < 300);
  }
}

async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function metric(baseUrl: string, outcome: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  return Number(new RegExp(`^idp_webhooks_total\\{outcome="${outcome}"\\} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
}

describe("webhooks", () => {
  let idp: TestIdp;
  let app: FastifyInstance;
  let receiver: Receiver;
  let cliEnv: Record<string, string>;
  const secrets = new Map<string, string>();
  const endpointIds = new Map<string, string>();

  /** `idp webhooks add` for a path of the receiver; remembers the secret it prints once. */
  async function addEndpoint(path: string, ...more: string[]): Promise<string> {
    const { stdout } = await cliOk(["webhooks", "add", "--url", receiver.url(path), ...more], cliEnv);
    const id = /added webhook endpoint (ep_\S+)/.exec(stdout)![1]!;
    const secret = /secret \(shown once\): (whsec_\S+)/.exec(stdout)![1]!;
    secrets.set(path, secret);
    endpointIds.set(path, id);
    return id;
  }

  beforeAll(async () => {
    idp = await startTestIdp({ env: { WEBHOOK_MAX_BACKOFF: "1", WEBHOOK_POLL_INTERVAL_MS: "50", WEBHOOK_TIMEOUT: "2" } });
    app = idp.app;
    cliEnv = { DATABASE_URL: idp.database.url!, KEYS_DIR: idp.config.keysDir, LOG_LEVEL: "silent" };
    receiver = await Receiver.start(secrets);
    await addEndpoint("/all");
    await addEndpoint("/deletions", "--events", "user.deleted");
  });

  afterAll(async () => {
    await app?.close();
    await receiver?.close();
    await idp?.close();
  });

  it("delivers each operator change once, signed, in order, to the endpoints that take its type", async () => {
    const before = await metric(idp.baseUrl, "delivered");
    const added = await idp.admin.addUser({ email: "alice@example.com", name: "Alice", password: "correct horse battery" });
    await idp.admin.setDisabled("alice@example.com", true);
    await idp.admin.setDisabled("alice@example.com", false);
    await idp.admin.setPhone("alice@example.com", "+4915112345678", true);
    const { stdout } = await cliOk(["users", "delete", "alice@example.com"], cliEnv);
    expect(stdout).toContain(`deleted alice@example.com (sub ${added.id})`);

    const all = await until("five events at /all", () => (receiver.taken("/all").length >= 5 ? receiver.taken("/all") : undefined));
    expect(all.map((entry) => entry.type)).toEqual(["user.created", "user.disabled", "user.enabled", "user.updated", "user.deleted"]);
    expect(all.every((entry) => entry.verified)).toBe(true);
    expect(new Set(all.map((entry) => entry.id)).size).toBe(5);
    expect(all[0]!.data).toMatchObject({ id: added.id, email: "alice@example.com", name: "Alice", email_verified: false, disabled: false });
    expect(all[1]!.data).toMatchObject({ id: added.id, disabled: true });
    expect(all[3]!.data).toMatchObject({ phone_number: "+4915112345678", phone_number_verified: true });
    // The deletion names the sub and nothing else about the person.
    expect(all[4]!.data).toEqual({ id: added.id });

    const deletions = await until("the deletion at /deletions", () => (receiver.taken("/deletions").length >= 1 ? receiver.taken("/deletions") : undefined));
    expect(deletions.map((entry) => [entry.type, entry.id, entry.verified])).toEqual([["user.deleted", all[4]!.id, true]]);

    // Nothing more arrives: each id once.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receiver.received.filter((entry) => entry.path === "/all")).toHaveLength(5);
    expect(await metric(idp.baseUrl, "delivered")).toBe(before + 6);
    const { rows } = await idp.database.db.query<{ n: number }>("SELECT count(*)::int AS n FROM webhook_deliveries WHERE body IS NOT NULL OR delivered_at IS NULL");
    expect(rows[0]!.n).toBe(0);
    expect(await idp.admin.users.findByEmail("alice@example.com")).toBeUndefined();
  });

  it("keeps events while the receiver is down, across an IdP restart, and delivers them in order per user", async () => {
    receiver.received.length = 0;
    await receiver.close();
    const carol = await idp.admin.addUser({ email: "carol@example.com", password: "correct horse battery" });
    await idp.admin.setDisabled("carol@example.com", true);
    await idp.admin.setDisabled("carol@example.com", false);
    const dave = await idp.admin.addUser({ email: "dave@example.com", password: "correct horse battery" });

    // Attempts fail and are retried; carol's later events are never tried while her first waits.
    type Row = { user_id: string; event_type: string; attempts: number; last_error: string | null };
    const rows = await until("retries of carol's and dave's first events", async () => {
      const { rows } = await idp.database.db.query<Row>(
        "SELECT user_id, event_type, attempts, last_error FROM webhook_deliveries WHERE delivered_at IS NULL AND endpoint_id = $1 ORDER BY id",
        [endpointIds.get("/all")],
      );
      return rows.length === 4 && rows[0]!.attempts >= 2 && rows[3]!.attempts >= 2 ? rows : undefined;
    });
    expect(rows.map((row) => [row.user_id, row.event_type, row.attempts > 0])).toEqual([
      [carol.id, "user.created", true],
      [carol.id, "user.disabled", false],
      [carol.id, "user.enabled", false],
      [dave.id, "user.created", true],
    ]);
    expect(rows[0]!.last_error).toMatch(/not delivered/);
    expect(await metric(idp.baseUrl, "retried")).toBeGreaterThanOrEqual(4);

    // The IdP stops and a new instance starts on the same database; the receiver comes back,
    // failing its first two answers.
    await app.close();
    receiver.failNext = 2;
    await receiver.listen();
    app = await buildApp({ config: idp.config, db: idp.database.db, keys: await loadKeyMaterial(idp.config), logger: false });
    await app.listen({ port: idp.config.port, host: "127.0.0.1" });

    const taken = await until("four events taken at /all", () => (receiver.taken("/all").length >= 4 ? receiver.taken("/all") : undefined));
    const carolsEvents = taken.filter((entry) => entry.data.id === carol.id).map((entry) => entry.type);
    expect(carolsEvents).toEqual(["user.created", "user.disabled", "user.enabled"]);
    expect(taken.filter((entry) => entry.data.id === dave.id).map((entry) => entry.type)).toEqual(["user.created"]);
    expect(taken.every((entry) => entry.verified)).toBe(true);
    expect(new Set(taken.map((entry) => entry.id)).size).toBe(4);
    // The refused attempts came again with the same webhook-id (at least once; the receiver deduplicates).
    const refused = receiver.received.filter((entry) => entry.answered === 503);
    expect(refused).toHaveLength(2);
    for (const entry of refused) expect(taken.map((t) => t.id)).toContain(entry.id);
    // /deletions takes only user.deleted: nothing was queued for it.
    expect(receiver.taken("/deletions")).toHaveLength(0);
  });

  it("idp webhooks list, test and remove; bad input is refused and changes nothing", async () => {
    const list = lines((await cliOk(["webhooks", "list"], cliEnv)).stdout);
    expect(list).toEqual([
      `${endpointIds.get("/all")}\t${receiver.url("/all")}\t*\t0 pending`,
      `${endpointIds.get("/deletions")}\t${receiver.url("/deletions")}\tuser.deleted\t0 pending`,
    ]);

    receiver.received.length = 0;
    const tested = await cliOk(["webhooks", "test", endpointIds.get("/all")!], cliEnv);
    expect(tested.stdout).toMatch(/^delivered msg_\S+ to ep_\S+: the receiver answered 204$/m);
    expect(receiver.received.map((entry) => [entry.type, entry.verified])).toEqual([["webhook.test", true]]);

    for (const [args, message] of [
      [["webhooks", "add", "--url", "http://example.com/hook"], "must use https"],
      [["webhooks", "add", "--url", "https://user:pw@example.com/hook"], "user name or password"],
      [["webhooks", "add", "--url", "https://example.com/hook", "--events", "user.created,user.exploded"], "unknown event type user.exploded"],
      [["webhooks", "remove", "ep_nope"], "no webhook endpoint ep_nope"],
      [["users", "delete", "nobody@example.com"], "no user with email nobody@example.com"],
    ] as const) {
      const result = await runCli([...args], cliEnv);
      expect(result.status, args.join(" ")).toBe(1);
      expect(result.stderr).toContain(message);
    }
    const { rows } = await idp.database.db.query<{ n: number }>("SELECT count(*)::int AS n FROM webhook_endpoints");
    expect(rows[0]!.n).toBe(2);

    // A secret at rest is sealed, never the whsec_ value.
    const stored = await idp.database.db.query<{ secret: Buffer }>("SELECT secret FROM webhook_endpoints");
    for (const row of stored.rows) for (const secret of secrets.values()) expect(row.secret.includes(Buffer.from(secret.slice(6), "base64"))).toBe(false);

    await cliOk(["webhooks", "remove", endpointIds.get("/deletions")!], cliEnv);
    expect(lines((await cliOk(["webhooks", "list"], cliEnv)).stdout)).toHaveLength(1);
    const audit = await idp.database.db.query("SELECT event FROM audit_events WHERE event LIKE 'webhook.%' OR event = 'user.deleted' ORDER BY id");
    expect(audit.rows.map((row) => row.event)).toEqual(["webhook.added", "webhook.added", "user.deleted", "webhook.removed"]);
  }, 90_000); // ten CLI runs, each a node process: slow on a busy machine (nothing asserts on time)
});
