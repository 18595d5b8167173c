// A cookie-keeping HTTP client for the hardening suites that records every response it receives
// (status, headers, each Set-Cookie line), and can add headers a TLS-terminating proxy would add.
import { decodeEntities, findForm, parseSetCookie, type Cookie } from "../support/browser.ts";

export type Recorded = {
  label: string;
  method: string;
  url: string;
  status: number;
  headers: Headers;
  setCookies: string[];
  body: string;
  location?: string;
};

export class RecordingBrowser {
  readonly responses: Recorded[] = [];
  private readonly cookies = new Map<string, Cookie>(); // name|path -> cookie (one host)
  private readonly extraHeaders: Record<string, string>;
  private readonly proxied?: { publicOrigin: string; serverOrigin: string };

  /**
   * `extraHeaders` go on every request; `proxied` plays a TLS-terminating proxy: URLs at the public
   * (https) origin are fetched from the server's plain-http origin.
   */
  constructor(extraHeaders: Record<string, string> = {}, proxied?: { publicOrigin: string; serverOrigin: string }) {
    this.extraHeaders = extraHeaders;
    this.proxied = proxied;
  }

  private cookieHeader(url: URL): string {
    return [...this.cookies.values()]
      .filter((cookie) => url.pathname.startsWith(cookie.path))
      .map((cookie) => `${cookie.name}=${cookie.value}`)
      .join("; ");
  }

  private store(setCookies: string[]): void {
    for (const line of setCookies) {
      const { cookie, expired } = parseSetCookie(line);
      if (expired) this.cookies.delete(`${cookie.name}|${cookie.path}`);
      else this.cookies.set(`${cookie.name}|${cookie.path}`, cookie);
    }
  }

  /** One request, no redirect following; the response is recorded under `label`. */
  async request(
    label: string,
    url: string,
    init: { method?: string; form?: Record<string, string>; headers?: Record<string, string>; accept?: string } = {},
  ): Promise<Recorded> {
    const target = new URL(this.proxied && url.startsWith(this.proxied.publicOrigin) ? this.proxied.serverOrigin + url.slice(this.proxied.publicOrigin.length) : url);
    const headers: Record<string, string> = { accept: init.accept ?? "text/html", ...this.extraHeaders, ...init.headers };
    const cookie = this.cookieHeader(target);
    if (cookie) headers.cookie = cookie;
    let body: string | undefined;
    if (init.form) {
      headers["content-type"] = "application/x-www-form-urlencoded";
      body = new URLSearchParams(init.form).toString();
    }
    const response = await fetch(target, { method: init.method ?? (body ? "POST" : "GET"), headers, body, redirect: "manual" });
    const setCookies = response.headers.getSetCookie();
    this.store(setCookies);
    const location = response.headers.get("location");
    const recorded: Recorded = {
      label,
      method: init.method ?? (body ? "POST" : "GET"),
      url: target.toString(),
      status: response.status,
      headers: response.headers,
      setCookies,
      body: await response.text(),
      location: location ? new URL(location, target).toString() : undefined,
    };
    this.responses.push(recorded);
    return recorded;
  }

  /** Follows redirects (recording each hop) until a page is rendered or stopAt matches the next URL. */
  async follow(
    label: string,
    url: string,
    stopAt?: (url: string) => boolean,
    init?: { form?: Record<string, string> },
  ): Promise<Recorded> {
    let page = await this.request(label, url, init);
    for (let hops = 0; page.location && hops < 20; hops++) {
      if (stopAt?.(page.location)) return page;
      page = await this.request(`${label} (redirect)`, page.location);
    }
    return page;
  }

  /** Submits the form whose action contains actionPart, with its hidden inputs plus `fields`. */
  async submit(
    label: string,
    page: Recorded,
    actionPart: string,
    fields: Record<string, string> = {},
    stopAt?: (url: string) => boolean,
  ): Promise<Recorded> {
    const form = findForm(page.body, actionPart);
    const action = new URL(decodeEntities(form.action), page.url).toString();
    return this.follow(label, action, stopAt, { form: { ...form.hidden, ...fields } });
  }
}

/** The directives of a Content-Security-Policy header: name -> source list. */
export function parseCsp(header: string | null): Map<string, string[]> {
  const directives = new Map<string, string[]>();
  for (const part of (header ?? "").split(";")) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) directives.set(name.toLowerCase(), values);
  }
  return directives;
}

/** The attributes of one Set-Cookie line, lower-cased names: { httponly: "", samesite: "Lax", ... }. */
export function cookieAttributes(line: string): { name: string; attributes: Map<string, string> } {
  const [pair, ...parts] = line.split(";");
  const attributes = new Map<string, string>();
  for (const part of parts) {
    const [key = "", value = ""] = part.trim().split("=");
    attributes.set(key.toLowerCase(), value);
  }
  return { name: pair!.slice(0, pair!.indexOf("=")).trim(), attributes };
}
