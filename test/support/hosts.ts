// Host values for the tests of host validation (idp/http/authority.ts, host-validation.ts), kept
// in one place, and a watch on the hosts oidc-provider builds its URLs from.
import type { TestIdp } from "./idp.ts";

/**
 * Malformed in every way the report and RFC 3986 suggest (each answered 500 once, for some
 * endpoint): the host grammar refuses each, and the IdP answers each with 400 as a Host.
 */
export const MALFORMED_HOSTS: readonly string[] = [
  "[::1",
  "[::1]]",
  "[::1]x",
  "[fe80::1%25eth0]",
  "[v1.future]",
  "127.0.0.1:99999",
  "127.0.0.1:P:P",
  "localhost:0",
  "localhost:",
  "localhost:-1",
  "localhost:+80",
  ":3000",
  "",
  "user@localhost",
  "user:pass@localhost",
  "localhost,evil.example",
  "localhost evil.example",
  "local\thost",
  "1.2.3.999",
  "0x7f.1",
  "caf\xc3\xa9.example",
  "\xff",
  "\x80localhost",
  "localhost\x00",
  "localhost\x1b",
  "localhost/oidc",
  "localhost?x",
  "localhost#x",
  "%6cocalhost",
  "<script>alert(1)</script>",
  "a".repeat(300),
];

/**
 * What Node's HTTP parser never lets through in a header value: controls other than tab, and DEL.
 * Node answers such a request itself, before the IdP sees it.
 */
export const NODE_REFUSES = /[\x00-\x08\x0a-\x1f\x7f]/;

/**
 * Records the authority of every URL oidc-provider derives from a request (Koa's ctx.href, which
 * its urlFor builds every absolute URL from), in order, repeats included. Koa documents
 * app.request as the prototype of each ctx.request; start the IdP with KEYS_RELOAD_INTERVAL=0, so
 * that the provider is not rebuilt while it is watched.
 */
export function watchProviderHosts(idp: TestIdp): string[] {
  const seen: string[] = [];
  const request = (idp.app.provider as unknown as { request: object }).request;
  const koaHref = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(request), "href")!;
  Object.defineProperty(request, "href", {
    configurable: true,
    get(this: object) {
      const href = koaHref.get!.call(this) as string;
      seen.push(URL.parse(href)?.host ?? `unparseable: ${href}`);
      return href;
    },
  });
  return seen;
}
