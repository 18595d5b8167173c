// A minimal browser for end-to-end tests without JavaScript pages: a cookie jar, manual redirects,
// and form submission the way a browser sends it (application/x-www-form-urlencoded).

export type Cookie = { name: string; value: string; path: string };

/** One Set-Cookie line: the cookie, and whether it is being deleted (expired or max-age 0). */
export function parseSetCookie(line: string): { cookie: Cookie; expired: boolean } {
  const [pair, ...attributes] = line.split(";");
  const index = pair!.indexOf("=");
  const cookie = { name: pair!.slice(0, index).trim(), value: pair!.slice(index + 1).trim(), path: "/" };
  let expired = false;
  for (const attribute of attributes) {
    const [key = "", attributeValue = ""] = attribute.trim().split("=");
    if (key.toLowerCase() === "path") cookie.path = attributeValue;
    if (key.toLowerCase() === "expires" && new Date(attributeValue).getTime() < Date.now()) expired = true;
    if (key.toLowerCase() === "max-age" && Number(attributeValue) <= 0) expired = true;
  }
  return { cookie, expired };
}

export type Page = { url: string; status: number; html: string; location?: string };

export class Browser {
  // hostname -> name|path -> cookie: like a browser, cookies are shared by every port of a host.
  private cookies = new Map<string, Map<string, Cookie>>();

  /** The names of the cookies this browser holds, for every host. */
  cookieNames(): string[] {
    return [...this.cookies.values()].flatMap((jar) => [...jar.values()].map((cookie) => cookie.name));
  }

  private cookieHeader(url: URL): string {
    const jar = this.cookies.get(url.hostname);
    if (!jar) return "";
    return [...jar.values()]
      .filter((cookie) => url.pathname.startsWith(cookie.path))
      .map((cookie) => `${cookie.name}=${cookie.value}`)
      .join("; ");
  }

  private store(url: URL, response: Response): void {
    for (const header of response.headers.getSetCookie()) {
      const { cookie, expired } = parseSetCookie(header);
      const jar = this.cookies.get(url.hostname) ?? new Map<string, Cookie>();
      this.cookies.set(url.hostname, jar);
      if (expired) jar.delete(`${cookie.name}|${cookie.path}`);
      else jar.set(`${cookie.name}|${cookie.path}`, cookie);
    }
  }

  /** One request, no redirect following. */
  async request(url: string, init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<Page> {
    const target = new URL(url);
    const headers: Record<string, string> = { accept: "text/html", ...init.headers };
    const cookie = this.cookieHeader(target);
    if (cookie) headers.cookie = cookie;
    let body: string | undefined;
    if (init.form) {
      headers["content-type"] = "application/x-www-form-urlencoded";
      body = new URLSearchParams(init.form).toString();
    }
    const response = await fetch(target, { method: init.method ?? (body ? "POST" : "GET"), headers, body, redirect: "manual" });
    this.store(target, response);
    const location = response.headers.get("location");
    return {
      url: target.toString(),
      status: response.status,
      html: await response.text(),
      location: location ? new URL(location, target).toString() : undefined,
    };
  }

  /** Follows redirects until a page is rendered or a URL matching stopAt is reached. */
  async follow(url: string, stopAt?: (url: string) => boolean, init?: { form?: Record<string, string> }): Promise<Page> {
    let page = await this.request(url, init);
    for (let hops = 0; page.location && hops < 20; hops++) {
      if (stopAt?.(page.location)) return { ...page, url: page.location };
      page = await this.request(page.location);
    }
    return page;
  }

  /** Submits the form whose action contains actionPart, with its hidden inputs plus the given fields. */
  async submit(page: Page, actionPart: string, fields: Record<string, string> = {}, stopAt?: (url: string) => boolean): Promise<Page> {
    const form = findForm(page.html, actionPart);
    const action = new URL(decodeEntities(form.action), page.url).toString();
    return this.follow(action, stopAt, { form: { ...form.hidden, ...fields } });
  }
}

export function decodeEntities(text: string): string {
  return text.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

export function findForm(html: string, actionPart: string): { action: string; hidden: Record<string, string> } {
  const forms = [...html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)];
  for (const [, attributes, inner] of forms) {
    const action = /action="([^"]*)"/.exec(attributes!)?.[1];
    if (action === undefined || !decodeEntities(action).includes(actionPart)) continue;
    const hidden: Record<string, string> = {};
    for (const [input] of inner!.matchAll(/<input\b[^>]*>/g)) {
      if (!/type="hidden"/.test(input)) continue;
      const name = /name="([^"]*)"/.exec(input)?.[1];
      const value = /value="([^"]*)"/.exec(input)?.[1] ?? "";
      if (name) hidden[decodeEntities(name)] = decodeEntities(value);
    }
    return { action, hidden };
  }
  throw new Error(`no form with action containing "${actionPart}" in:\n${html.slice(0, 2000)}`);
}
