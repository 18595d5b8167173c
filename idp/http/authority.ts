// The host grammar the IdP accepts (an RFC 3986 authority without userinfo) and the ALLOWED_HOSTS
// list: pure functions, used by the config to fail fast and by the request check in host-validation.ts.
import { isIPv6 } from "node:net";

/** A parsed authority: the canonical (lower-case) host name or IP literal, and the port if one was given. */
export type Authority = { hostname: string; port: number | undefined };

/** The hosts a request may name. `any`: ALLOWED_HOSTS contains `*`. */
export type AllowedHosts = { any: boolean; entries: Authority[] };

/** A reg-name of RFC 3986 restricted to its unreserved characters: what real host names use. */
const REG_NAME = /^[A-Za-z0-9._~-]{1,253}$/;
const DEC_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
const IPV4 = new RegExp(`^${DEC_OCTET}(?:\\.${DEC_OCTET}){3}$`);
/** A last label the WHATWG URL parser reads as a number, so the whole name must be an IPv4 address. */
const NUMERIC_LABEL = /^(?:[0-9]+|0x[0-9a-f]*)$/i;
const IPV6_CHARACTERS = /^[0-9A-Fa-f:.]+$/;

export const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "[::1]"];

/**
 * Parses `host[:port]` strictly: ASCII only; a reg-name of letters, digits, `-`, `.`, `_`, `~`, a
 * dotted-quad IPv4 address, or a bracketed IPv6 literal (no zone); a port from 1 to 65535. Anything
 * else (userinfo, an empty port, a comma, a space, a byte above 0x7e) is undefined. Whatever this
 * accepts also parses as the host of a WHATWG URL, which is how oidc-provider builds its URLs.
 */
export function parseAuthority(value: string): Authority | undefined {
  let host: string;
  let portText: string | undefined;
  if (value.startsWith("[")) {
    const end = value.indexOf("]");
    if (end === -1) return undefined;
    host = value.slice(0, end + 1);
    const rest = value.slice(end + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) return undefined;
      portText = rest.slice(1);
    }
    const literal = host.slice(1, -1);
    if (!IPV6_CHARACTERS.test(literal) || !isIPv6(literal)) return undefined;
  } else {
    const colon = value.indexOf(":");
    host = colon === -1 ? value : value.slice(0, colon);
    portText = colon === -1 ? undefined : value.slice(colon + 1);
    if (!REG_NAME.test(host)) return undefined;
    const labels = host.split(".");
    const last = labels.at(-1) === "" ? labels.at(-2) : labels.at(-1);
    if (last !== undefined && NUMERIC_LABEL.test(last) && !IPV4.test(host)) return undefined;
  }
  let port: number | undefined;
  if (portText !== undefined) {
    if (!/^[0-9]{1,5}$/.test(portText)) return undefined;
    port = Number(portText);
    if (port < 1 || port > 65535) return undefined;
  }
  const url = URL.parse(`http://${host}/`);
  if (!url || !url.hostname) return undefined;
  return { hostname: url.hostname, port };
}

/**
 * ALLOWED_HOSTS: comma-separated `host[:port]` entries, or `*` for any well-formed host. The
 * issuer's own host is always allowed, and when it is a loopback name so are all three loopback
 * names on any port (a development IdP is reached as localhost and as 127.0.0.1; a DNS-rebinding
 * page still cannot use its own name). Throws an Error saying which entry is wrong.
 */
export function parseAllowedHosts(list: string, issuer: string): AllowedHosts {
  const allowed: AllowedHosts = { any: false, entries: [] };
  for (const entry of list.split(",").map((part) => part.trim()).filter(Boolean)) {
    if (entry === "*") {
      allowed.any = true;
      continue;
    }
    if (entry.includes("*")) throw new Error(`supports only a lone * (any host), not the pattern "${entry}"`);
    const authority = parseAuthority(entry);
    if (!authority) throw new Error(`has "${entry}", which is not a host name or IP address with an optional :port (1-65535)`);
    allowed.entries.push(authority);
  }
  const own = parseAuthority(new URL(issuer).host);
  if (own) {
    allowed.entries.push(own);
    if (LOOPBACK_NAMES.includes(own.hostname)) for (const name of LOOPBACK_NAMES) allowed.entries.push({ hostname: name, port: undefined });
  }
  return allowed;
}

/** An entry without a port allows its host on any port; compared after parseAuthority lower-cased both. */
export function isAllowedHost(allowed: AllowedHosts, authority: Authority): boolean {
  if (allowed.any) return true;
  return allowed.entries.some((entry) => entry.hostname === authority.hostname && (entry.port === undefined || entry.port === authority.port));
}
