// A lean keep-alive HTTP/1.1 client for the load generator (node:http, no dependency), and a cookie
// jar with form handling for walking sign-in pages. Every request has a timeout, so nothing hangs.
import http from "node:http";
import https from "node:https";

export type Response = { status: number; headers: http.IncomingHttpHeaders; body: string };

export type RequestOptions = { method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number };

export type HttpClient = {
  request(url: string, options?: RequestOptions): Promise<Response>;
  close(): void;
};

/** `ca`: a certificate to trust for https URLs (the bench's upstream provider's, self-signed). */
export function createHttpClient(connections: number, options: { ca?: string } = {}): HttpClient {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections });
  const secureAgent = new https.Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections, ca: options.ca });
  return {
    request(url, { method = "GET", headers = {}, body, timeoutMs = 30_000 } = {}) {
      return new Promise((resolve, reject) => {
        const secure = url.startsWith("https:");
        const request = (secure ? https : http).request(
          url,
          { method, agent: secure ? secureAgent : agent, headers: body === undefined ? headers : { ...headers, "content-length": String(Buffer.byteLength(body)) } },
          (response) => {
            const chunks: Buffer[] = [];
            response.on("data", (chunk: Buffer) => chunks.push(chunk));
            response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString("utf8") }));
            response.on("error", reject);
          },
        );
        request.setTimeout(timeoutMs, () => request.destroy(new Error(`${method} ${url}: no answer in ${timeoutMs} ms`)));
        request.on("error", reject);
        request.end(body);
      });
    },
    close: () => (agent.destroy(), secureAgent.destroy()),
  };
}

export const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
export const FORM = "application/x-www-form-urlencoded";

/** One browser's cookies: path-matched, dropped when the server expires them. */
export class CookieJar {
  private cookies = new Map<string, { name: string; value: string; path: string }>();

  header(url: URL): string | undefined {
    const sent = [...this.cookies.values()].filter((cookie) => url.pathname.startsWith(cookie.path));
    return sent.length ? sent.map((cookie) => `${cookie.name}=${cookie.value}`).join("; ") : undefined;
  }

  store(setCookie: string[] | undefined): void {
    for (const line of setCookie ?? []) {
      const [pair, ...attributes] = line.split(";");
      const at = pair!.indexOf("=");
      const name = pair!.slice(0, at).trim();
      const value = pair!.slice(at + 1).trim();
      let cookiePath = "/";
      let expired = false;
      for (const attribute of attributes) {
        const [key = "", attributeValue = ""] = attribute.trim().split("=");
        if (key.toLowerCase() === "path") cookiePath = attributeValue;
        if (key.toLowerCase() === "expires" && new Date(attributeValue).getTime() < Date.now()) expired = true;
        if (key.toLowerCase() === "max-age" && Number(attributeValue) <= 0) expired = true;
      }
      if (expired) this.cookies.delete(`${name}|${cookiePath}`);
      else this.cookies.set(`${name}|${cookiePath}`, { name, value, path: cookiePath });
    }
  }
}

const decode = (text: string) =>
  text.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");

/** The first form whose action passes the test: its action, its hidden inputs and the names of the others. */
export function findForm(
  html: string,
  test: (action: string) => boolean,
): { action: string; hidden: Record<string, string>; fields: string[] } | undefined {
  for (const [, attributes, inner] of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)) {
    const action = /action="([^"]*)"/.exec(attributes!)?.[1];
    if (action === undefined || !test(decode(action))) continue;
    const fields: string[] = [];
    const hidden: Record<string, string> = {};
    for (const [input] of inner!.matchAll(/<input\b[^>]*>/g)) {
      const name = /name="([^"]*)"/.exec(input)?.[1];
      if (!name) continue;
      if (/type="hidden"/.test(input)) hidden[decode(name)] = decode(/value="([^"]*)"/.exec(input)?.[1] ?? "");
      else fields.push(decode(name));
    }
    return { action: decode(action), hidden, fields };
  }
  return undefined;
}
