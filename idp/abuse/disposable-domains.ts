// The disposable-domain block list of sign-up: the list shipped as data (disposable-domains.txt,
// built by scripts/update-disposable-domains.ts) plus the operator's SIGN_UP_BLOCKED_DOMAINS,
// matched case-insensitively and with subdomains (x.mailinator.com is mailinator.com's).
import { readFile } from "node:fs/promises";
import { domainToASCII } from "node:url";

export const DISPOSABLE_DOMAINS_FILE = new URL("./disposable-domains.txt", import.meta.url);

export type DomainBlockList = {
  /** True when the domain, or a domain it is a subdomain of, is on the list. */
  blocks(domain: string): boolean;
  readonly size: number;
};

/**
 * A domain as the list holds it: trimmed, lower-cased, without a trailing dot, internationalised
 * names in punycode. Undefined when it is no domain name at all.
 */
export function normalizeDomain(domain: string): string | undefined {
  const ascii = domainToASCII(domain.trim().toLowerCase().replace(/\.$/, ""));
  return /^[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(ascii) ? ascii : undefined;
}

/** The domain of an email address (after its last @), normalised; undefined when it has none. */
export function emailDomain(email: string): string | undefined {
  const at = email.lastIndexOf("@");
  return at < 0 ? undefined : normalizeDomain(email.slice(at + 1));
}

/**
 * SIGN_UP_BLOCKED_DOMAINS: comma-separated domains. Throws with the first entry that is not a
 * domain name of at least two labels, so a typo stops the IdP at start rather than block nothing.
 */
export function parseBlockedDomains(raw: string | undefined): string[] {
  const domains: string[] = [];
  for (const entry of (raw ?? "").split(",")) {
    if (entry.trim() === "") continue;
    const domain = normalizeDomain(entry);
    if (!domain || !domain.includes(".")) throw new Error(`"${entry.trim()}" is not a domain such as example.com`);
    domains.push(domain);
  }
  return domains;
}

export function createDomainBlockList(domains: Iterable<string>): DomainBlockList {
  const set = new Set<string>();
  for (const domain of domains) {
    const normalized = normalizeDomain(domain);
    if (normalized) set.add(normalized);
  }
  return {
    size: set.size,
    blocks(domain) {
      const normalized = normalizeDomain(domain);
      if (!normalized) return false;
      // The domain itself, then each parent: a.b.example.com, b.example.com, example.com, com.
      let candidate = normalized;
      for (;;) {
        if (set.has(candidate)) return true;
        const dot = candidate.indexOf(".");
        if (dot < 0) return false;
        candidate = candidate.slice(dot + 1);
      }
    },
  };
}

/** The shipped list (read once, at start) and the operator's additions. */
export async function loadDisposableDomains(extra: string[] = []): Promise<DomainBlockList> {
  const text = await readFile(DISPOSABLE_DOMAINS_FILE, "utf8");
  const shipped = text.split("\n").filter((line) => line !== "" && !line.startsWith("#"));
  return createDomainBlockList([...shipped, ...extra]);
}
