// Shared by the abuse-protection tests: a form client that keeps cookies and shows every response
// header, a login session on a real IdP, comparison of two responses, and the `idp` CLI as a child process.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { findForm, decodeEntities } from "../support/browser.ts";
import { createClient } from "@redis/client";
import { discover, startAuthorization } from "../support/oidc-flow.ts";
import { redisKeyPrefix } from "../../idp/abuse/rate-limit-store.ts";
import type { TestIdp } from "../support/idp.ts";
import { redisUrl } from "../support/redis.ts";

export { redisUrl };

export type Reply = { status: number; headers: Headers; html: string; location?: string; ms: number };

/** One cookie jar for one origin; requests are never redirected automatically. */
export class FormClient {
  private cookies = new Map<string, string>();
  private readonly origin: string;
  constructor(origin: string) {
    this.origin = origin;
  }

  async request(pathOrUrl: string, init: { form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<Reply> {
    const url = new URL(pathOrUrl, this.origin);
    const headers: Record<string, string> = { accept: "text/html", ...init.headers };
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
    let body: string | undefined;
    if (init.form) {
      headers["content-type"] = "application/x-www-form-urlencoded";
      body = new URLSearchParams(init.form).toString();
    }
    const started = performance.now();
    const response = await fetch(url, { method: body ? "POST" : "GET", headers, body, redirect: "manual" });
    const html = await response.text();
    const ms = performance.now() - started;
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(";");
      const index = pair!.indexOf("=");
      this.cookies.set(pair!.slice(0, index).trim(), pair!.slice(index + 1).trim());
    }
    const location = response.headers.get("location");
    return { status: response.status, headers: response.headers, html, location: location ? new URL(location, url).toString() : undefined, ms };
  }
}

/** A browser at the sign-in page of a fresh authorization request, ready to post the form. */
export class LoginSession {
  private page!: Reply;
  readonly client: FormClient;
  private constructor(client: FormClient) {
    this.client = client;
  }

  static async open(idp: TestIdp, clientId = "web"): Promise<LoginSession> {
    const config = await discover(idp.issuer, clientId);
    const start = await startAuthorization(config);
    const session = new LoginSession(new FormClient(idp.baseUrl));
    let reply = await session.client.request(start.url.toString());
    for (let hops = 0; reply.location && hops < 5; hops++) reply = await session.client.request(reply.location);
    if (!reply.html.includes('name="password"')) throw new Error(`no login page:\n${reply.html.slice(0, 500)}`);
    session.page = reply;
    return session;
  }

  /**
   * Posts the login form (to another instance of the IdP when `via` is its origin); the next post
   * uses the CSRF token of the page it returned.
   */
  async post(email: string, password: string, via?: string): Promise<Reply> {
    const form = findForm(this.page.html, "/login");
    const action = via ? new URL(decodeEntities(form.action), via).toString() : decodeEntities(form.action);
    const reply = await this.client.request(action, { form: { ...form.hidden, email, password } });
    if (reply.html.includes('name="password"')) this.page = reply;
    return reply;
  }
}

/** True when a login post signed the person in: the provider resumes the authorization request. */
export const signedIn = (reply: Reply) => reply.status === 303 && /\/auth\/[A-Za-z0-9_-]+$/.test(reply.location ?? "");

/** Deletes every Redis key of one IdP (its issuer prefix), so no test run sees another's counters. */
export async function clearRedisKeys(issuer: string): Promise<void> {
  const raw = createClient({ url: redisUrl });
  await raw.connect();
  try {
    for await (const batch of raw.scanIterator({ MATCH: `${redisKeyPrefix(issuer)}*`, COUNT: 500 })) if (batch.length) await raw.del(batch);
  } finally {
    await raw.close();
  }
}

/** A response with what legitimately differs between two requests taken out: date, request id, CSRF token, cookie values, the email typed. */
export function comparable(reply: Reply, email: string) {
  const headers: Record<string, string> = {};
  reply.headers.forEach((value, name) => {
    if (name === "date" || name === "set-cookie" || name === "x-request-id") return;
    headers[name] = value;
  });
  const cookieNames = reply.headers.getSetCookie().map((cookie) => cookie.split("=")[0]).sort();
  const html = reply.html
    .replace(/name="_csrf" value="[^"]*"/g, 'name="_csrf" value="CSRF"')
    .replace(/\/interaction\/[A-Za-z0-9_-]+\//g, "/interaction/UID/")
    .replace(/interaction=[A-Za-z0-9_-]+/g, "interaction=UID") // the sign-in a "Forgot password?" link returns to
    .replaceAll(email, "EMAIL");
  return { status: reply.status, headers, cookieNames, html };
}

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Runs `node idp/cli/bin.ts ...args` against the test IdP's database (and Redis, when it has one). */
export function runCli(idp: TestIdp, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    DATABASE_URL: idp.database.url!,
    ISSUER: idp.issuer,
    LOG_LEVEL: "silent",
    ...(idp.config.redisUrl ? { REDIS_URL: idp.config.redisUrl } : {}),
  };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join("idp", "cli", "bin.ts"), ...args], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`idp ${args.join(" ")} did not exit within 30 s`));
    }, 30_000);
    child.once("error", reject);
    child.once("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}
