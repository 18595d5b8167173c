// Reaches every page a person can see on the IdP, in Chromium or over plain HTTP. A site is a real
// IdP (with a user and a third-party client), a relying party on localhost that answers callbacks
// and serves small PNG logos, and, on demand, a second IdP with a tiny request limit for the
// too-many-requests page. Each page is reached by the steps a person would take, written once
// against a Driver that either Chromium or a cookie-keeping HTTP client carries out.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { crc32, deflateSync } from "node:zlib";
import type { Page, Response } from "playwright-core";
import type { NewClientInput } from "../../idp/accounts/operator.ts";
import type { MessageId } from "../../idp/pages/i18n.ts";
import { decodeEntities, findForm, parseSetCookie, type Cookie } from "../support/browser.ts";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { authorizationQuery } from "../support/oidc-flow.ts";

export const PAGE_NAMES = [
  "sign-in",
  "sign-in-error",
  "consent",
  "sign-out",
  "signed-out",
  "error-unknown-client",
  "error-bad-redirect",
  "expired",
  "not-found",
  "too-many-requests",
] as const;
export type PageName = (typeof PAGE_NAMES)[number];

export const LOCALES = ["en", "de", "fr", "es", "ja"] as const;

/** The third-party client every journey signs in to (consent is asked of it). */
export const PARTNER = { id: "partner", name: "Partner" } as const;
export const USER = { email: "alice@example.com", password: "a long enough passphrase 42" } as const;
/** Wrong passwords go to an address that has no account, so no real account is ever locked out. */
export const WRONG_PASSWORD = "not the passphrase at all";
/** The request limit per address of the site's second IdP. */
export const TINY_REQUEST_LIMIT = 3;

/**
 * What each page says, as message ids of the catalogue: its <h1>, and the buttons it must offer
 * (the primary one first). `app` is filled with the client's name where the message takes one.
 */
export const PAGE_WORDS: Record<PageName, { title: MessageId; buttons: MessageId[]; status: number }> = {
  "sign-in": { title: "login.title", buttons: ["login.submit", "login.cancel"], status: 200 },
  "sign-in-error": { title: "login.title", buttons: ["login.submit", "login.cancel"], status: 401 },
  consent: { title: "consent.title", buttons: ["consent.allow", "consent.deny"], status: 200 },
  "sign-out": { title: "logout.title", buttons: ["logout.confirm", "logout.stay"], status: 200 },
  "signed-out": { title: "loggedOut.title", buttons: [], status: 200 },
  "error-unknown-client": { title: "error.unknownClient.title", buttons: [], status: 400 },
  "error-bad-redirect": { title: "error.badRedirect.title", buttons: [], status: 400 },
  expired: { title: "error.expired.title", buttons: [], status: 400 },
  "not-found": { title: "error.notFound.title", buttons: [], status: 404 },
  "too-many-requests": { title: "error.tooManyRequests.title", buttons: [], status: 429 },
};

/** A tiny valid PNG (8-bit RGB, one colour), so a browser decodes it to a real image. */
export function png(width: number, height: number, rgb: [number, number, number]): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // bit depth 8, colour type 2 (RGB), no interlace
  const row = Buffer.concat([Buffer.from([0]), Buffer.concat(Array.from({ length: width }, () => Buffer.from(rgb)))]);
  const pixels = Buffer.concat(Array.from({ length: height }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(pixels)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

const LOGO = png(8, 8, [11, 87, 208]);

export type SiteOptions = {
  /** Settings for the IdP (and its rate-limited twin), given the relying party's origin. */
  env?: (appOrigin: string) => Record<string, string>;
  /** More clients, given the relying party's origin (any field the operator's addClient takes). */
  clients?: (appOrigin: string) => NewClientInput[];
};

export type Site = {
  idp: TestIdp;
  /** http://localhost:<port>: the relying party's callbacks and the logos (any *.png path). */
  appOrigin: string;
  /** Paths of every request the relying party received, in order. */
  appRequests: string[];
  /** The IdP with REQUEST_LIMIT_PER_IP=3, started the first time it is asked for. */
  limitedIdp(): Promise<TestIdp>;
  authorizationUrl(params?: Record<string, string>): string;
  endSessionUrl(params?: Record<string, string>): string;
  close(): Promise<void>;
};

export async function startSite(options: SiteOptions = {}): Promise<Site> {
  const appRequests: string[] = [];
  // The relying party: a PNG for any *.png path, and a plain answer for everything else (callbacks).
  const relyingParty = http.createServer((request, response) => {
    const path = new URL(request.url ?? "/", "http://localhost").pathname;
    appRequests.push(path);
    if (path.endsWith(".png")) {
      response.writeHead(200, { "content-type": "image/png", "cache-control": "no-store" }).end(LOGO);
      return;
    }
    response.writeHead(200, { "content-type": "text/plain; charset=utf-8" }).end(`${request.method} ${request.url}`);
  });
  await new Promise<void>((resolve) => relyingParty.listen(0, "127.0.0.1", resolve));
  const appOrigin = `http://localhost:${(relyingParty.address() as AddressInfo).port}`;
  // The suites sign in more often in a minute than the default per-address limit allows one office.
  const env = { SIGN_IN_LIMIT_PER_IP: "1000", ...options.env?.(appOrigin) };

  let idp: TestIdp | undefined;
  let limited: Promise<TestIdp> | undefined;
  const closeAll = async () => {
    await Promise.all([idp?.close(), limited?.then((started) => started.close(), () => {})]);
    relyingParty.closeAllConnections();
    await new Promise((resolve) => relyingParty.close(resolve));
  };

  try {
    idp = await startTestIdp({ env });
    await idp.admin.addUser(USER);
    await idp.admin.addClient({
      id: PARTNER.id,
      name: PARTNER.name,
      public: true,
      firstParty: false,
      redirectUris: [`${appOrigin}/callback`],
      postLogoutRedirectUris: [`${appOrigin}/signed-out`],
    });
    for (const client of options.clients?.(appOrigin) ?? []) await idp.admin.addClient(client);
  } catch (error) {
    await closeAll();
    throw error;
  }
  const started = idp;

  return {
    idp: started,
    appOrigin,
    appRequests,
    limitedIdp() {
      limited ??= startTestIdp({ env: { ...env, REQUEST_LIMIT_PER_IP: String(TINY_REQUEST_LIMIT) } });
      return limited;
    },
    authorizationUrl(params = {}) {
      return `${started.issuer}/auth?${authorizationQuery({
        client_id: PARTNER.id,
        scope: "openid email profile",
        redirect_uri: `${appOrigin}/callback`,
        state: "state-1",
        nonce: "nonce-1",
        ...params,
      })}`;
    },
    endSessionUrl(params = {}) {
      return `${started.issuer}/session/end?${new URLSearchParams({ client_id: PARTNER.id, ...params })}`;
    },
    close: closeAll,
  };
}

/** A form post: the form whose action contains `action`, these fields filled in, sent by `button` (or its submit button). */
export type FormStep = {
  action: string;
  fields?: Record<string, string>;
  /** A button outside the form (oidc-provider's logout buttons use form="…"), by name and value. */
  button?: { name: string; value: string };
  /** Where the post (and the redirects after it) end. */
  until: (url: URL) => boolean;
};

/** Carries out the steps towards a page: Chromium (chromiumDriver) or plain HTTP (HttpVisitor). */
export type Driver = {
  /** Loads a URL, following redirects; the final response's status. */
  goto(url: string): Promise<number>;
  /** Posts a form of the current page, following redirects; the final response's status. */
  submit(step: FormStep): Promise<number>;
  /** The current URL. */
  url(): string;
};

export type ReachOptions = {
  /** ui_locales of the authorization or end-session request. */
  uiLocales?: string;
  /** The client signed in to (default: PARTNER). */
  clientId?: string;
};

const interactionPage = (url: URL) => /^\/interaction\/[^/]+$/.test(url.pathname);

/**
 * Takes the steps to one page and checks it landed there (by status and URL); the driver then shows
 * the page. Every call starts from the driver's current cookies: give it a fresh context or visitor.
 */
export async function reach(site: Site, driver: Driver, name: PageName, options: ReachOptions = {}): Promise<void> {
  const locales: Record<string, string> = options.uiLocales ? { ui_locales: options.uiLocales } : {};
  const client: Record<string, string> = options.clientId ? { client_id: options.clientId } : {};
  const base = site.idp.baseUrl;
  let status: number;
  switch (name) {
    case "sign-in":
      status = await driver.goto(site.authorizationUrl({ ...locales, ...client }));
      break;
    case "sign-in-error":
      await reach(site, driver, "sign-in", options);
      status = await driver.submit({
        action: "/login",
        fields: { email: `nobody-${Math.random().toString(36).slice(2)}@example.com`, password: WRONG_PASSWORD },
        until: (url) => url.pathname.endsWith("/login"),
      });
      break;
    case "consent": {
      await reach(site, driver, "sign-in", options);
      const signInPage = driver.url();
      status = await driver.submit({
        action: "/login",
        fields: { email: USER.email, password: USER.password },
        until: (url) => interactionPage(url) && url.href !== signInPage,
      });
      break;
    }
    case "sign-out":
      // Signed in (the session exists once the password is accepted, before consent).
      await reach(site, driver, "consent", options);
      status = await driver.goto(site.endSessionUrl({ ...locales, ...client }));
      break;
    case "signed-out":
      await reach(site, driver, "sign-out", options);
      status = await driver.submit({
        action: "/session/end/confirm",
        button: { name: "logout", value: "yes" },
        until: (url) => url.pathname.endsWith("/session/end/success"),
      });
      break;
    case "error-unknown-client":
      status = await driver.goto(site.authorizationUrl({ ...locales, client_id: "no-such-app" }));
      break;
    case "error-bad-redirect":
      status = await driver.goto(site.authorizationUrl({ ...locales, ...client, redirect_uri: `${site.appOrigin}/not-registered` }));
      break;
    case "expired":
      status = await driver.goto(`${base}/interaction/no-such-interaction`);
      break;
    case "not-found":
      status = await driver.goto(`${base}/interaction/x/y/z`);
      break;
    case "too-many-requests": {
      const limited = await site.limitedIdp();
      status = 0;
      // Past the limit within one window; a window that ends midway only restarts the count.
      for (let attempt = 0; attempt < 4 * TINY_REQUEST_LIMIT && status !== 429; attempt++) {
        status = await driver.goto(`${limited.baseUrl}/interaction/flood`);
      }
      break;
    }
  }
  const expected = PAGE_WORDS[name].status;
  if (status !== expected) throw new Error(`reaching the ${name} page: expected status ${expected}, got ${status} at ${driver.url()}`);
}

/** A Driver over a Chromium page. */
export function chromiumDriver(page: Page): Driver {
  // The main frame's last navigation response: after a form post and its redirects, the page's own.
  const navigation: { last?: Response } = {};
  page.on("response", (response) => {
    if (response.request().isNavigationRequest() && response.frame() === page.mainFrame()) navigation.last = response;
  });
  return {
    async goto(url) {
      const response = await page.goto(url);
      if (!response) throw new Error(`no response for ${url}`);
      return response.status();
    },
    async submit({ action, fields = {}, button, until }) {
      const before = page.url();
      const form = page.locator(`form[action*="${action}"]`);
      for (const [field, value] of Object.entries(fields)) await form.locator(`[name="${field}"]`).fill(value);
      const submitter = button
        ? page.locator(`button[name="${button.name}"][value="${button.value}"]`)
        : form.locator('button:not([type]), button[type="submit"], input[type="submit"]').first();
      delete navigation.last;
      await submitter.click();
      await page.waitForURL((url) => url.href !== before && until(url));
      const response = navigation.last as Response | undefined;
      if (!response) throw new Error(`no response after posting the ${action} form`);
      return response.status();
    },
    url: () => page.url(),
  };
}

export type HttpPage = { url: string; status: number; html: string; headers: Headers };

/** A Driver over plain HTTP: a cookie jar per host, redirects followed by hand, extra request headers. */
export class HttpVisitor implements Driver {
  private cookies = new Map<string, Map<string, Cookie>>();
  private readonly headers: Record<string, string>;
  current: HttpPage | undefined;

  constructor(headers: Record<string, string> = {}) {
    this.headers = headers;
  }

  private async request(url: string, form?: Record<string, string>): Promise<HttpPage & { location?: string }> {
    const target = new URL(url);
    const headers: Record<string, string> = { accept: "text/html", ...this.headers };
    const jar = this.cookies.get(target.hostname);
    const cookie = [...(jar?.values() ?? [])]
      .filter((entry) => target.pathname.startsWith(entry.path))
      .map((entry) => `${entry.name}=${entry.value}`)
      .join("; ");
    if (cookie) headers.cookie = cookie;
    if (form) headers["content-type"] = "application/x-www-form-urlencoded";
    const response = await fetch(target, {
      method: form ? "POST" : "GET",
      headers,
      body: form ? new URLSearchParams(form).toString() : undefined,
      redirect: "manual",
    });
    for (const line of response.headers.getSetCookie()) {
      const { cookie: set, expired } = parseSetCookie(line);
      const hostJar = this.cookies.get(target.hostname) ?? new Map<string, Cookie>();
      this.cookies.set(target.hostname, hostJar);
      if (expired) hostJar.delete(`${set.name}|${set.path}`);
      else hostJar.set(`${set.name}|${set.path}`, set);
    }
    const location = response.headers.get("location");
    return {
      url: target.toString(),
      status: response.status,
      html: await response.text(),
      headers: response.headers,
      location: location ? new URL(location, target).toString() : undefined,
    };
  }

  private async follow(url: string, form?: Record<string, string>): Promise<HttpPage> {
    let page = await this.request(url, form);
    for (let hops = 0; page.location && hops < 20; hops++) page = await this.request(page.location);
    if (page.location) throw new Error(`too many redirects from ${url}`);
    this.current = page;
    return page;
  }

  async goto(url: string): Promise<number> {
    return (await this.follow(url)).status;
  }

  async submit({ action, fields = {}, button, until }: FormStep): Promise<number> {
    if (!this.current) throw new Error("no page to submit a form of");
    const form = findForm(this.current.html, action);
    const target = new URL(decodeEntities(form.action), this.current.url).toString();
    const page = await this.follow(target, { ...form.hidden, ...fields, ...(button ? { [button.name]: button.value } : {}) });
    if (!until(new URL(page.url))) throw new Error(`posting the ${action} form ended at ${page.url} (status ${page.status})`);
    return page.status;
  }

  url(): string {
    return this.current?.url ?? "";
  }
}

/** Text of a fragment of markup: tags dropped, entities decoded, white space collapsed. */
export function textOf(markup: string): string {
  return decodeEntities(
    markup
      .replace(/<[^>]*>/g, " ")
      .replace(/&#(\d+);/g, (_, code: string) => String.fromCodePoint(Number(code)))
      .replace(/&#x([0-9a-f]+);/gi, (_, code: string) => String.fromCodePoint(parseInt(code, 16))),
  )
    .replace(/[ \t\n\r\f]+/g, " ") // HTML white space only: a no-break space is part of the text
    .trim();
}

export type PageOutline = {
  lang: string | undefined;
  title: string;
  h1: string[];
  buttons: Array<{ text: string; name?: string; value?: string }>;
  /** The visible words of <body>, for "the page says …" checks. */
  text: string;
};

/** The parts of a server-rendered page the language tests look at (our pages are plain markup). */
export function outline(html: string): PageOutline {
  const attribute = (tag: string, name: string) => {
    const raw = new RegExp(`\\s${name}="([^"]*)"`, "i").exec(tag)?.[1];
    return raw === undefined ? undefined : decodeEntities(raw);
  };
  const htmlTag = /<html\b[^>]*>/i.exec(html)?.[0] ?? "";
  const body = /<body\b[^>]*>([\s\S]*)<\/body>/i.exec(html)?.[1] ?? html;
  return {
    lang: attribute(htmlTag, "lang"),
    title: textOf(/<title\b[^>]*>([\s\S]*?)<\/title>/i.exec(html)?.[1] ?? ""),
    h1: [...html.matchAll(/<h1\b[^>]*>([\s\S]*?)<\/h1>/gi)].map((match) => textOf(match[1]!)),
    buttons: [
      ...[...html.matchAll(/<button\b([^>]*)>([\s\S]*?)<\/button>/gi)].map(([, attributes, inner]) => ({
        text: textOf(inner!),
        name: attribute(` ${attributes}`, "name"),
        value: attribute(` ${attributes}`, "value"),
      })),
      ...[...html.matchAll(/<input\b[^>]*type="submit"[^>]*>/gi)].map(([tag]) => ({
        text: attribute(tag, "value") ?? "",
        name: attribute(tag, "name"),
        value: attribute(tag, "value"),
      })),
    ],
    text: textOf(body.replace(/<(script|style)\b[\s\S]*?<\/\1>/gi, " ")),
  };
}

/** The buttons inside the form whose action contains actionPart. */
export function formButtons(html: string, actionPart: string): string[] {
  for (const [, attributes, inner] of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const action = /action="([^"]*)"/.exec(attributes!)?.[1];
    if (action !== undefined && decodeEntities(action).includes(actionPart)) return outline(inner!).buttons.map((button) => button.text);
  }
  throw new Error(`no form with action containing "${actionPart}"`);
}
