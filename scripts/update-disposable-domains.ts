// Rebuilds idp/abuse/disposable-domains.txt from the npm package disposable-email-domains (a
// maintained list, MIT): its exact and wildcard lists merged, lower-cased, sorted, less any entry
// that is itself a public suffix (edu.pl, my.id): sign-up blocks subdomains of every entry, and
// blocking everything under a public suffix would refuse whole countries' universities.
// Refresh: `npm update disposable-email-domains && npm run update-disposable-domains`, then commit.
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { domainToASCII } from "node:url";
import { getDomain } from "tldts";

const require = createRequire(import.meta.url);
const OUTPUT = new URL("../idp/abuse/disposable-domains.txt", import.meta.url);

const { version } = JSON.parse(readFileSync(require.resolve("disposable-email-domains/package.json"), "utf8")) as { version: string };
const exact = require("disposable-email-domains/index.json") as string[];
const wildcard = require("disposable-email-domains/wildcard.json") as string[];

const domains = new Set<string>();
const dropped = new Set<string>();
for (const entry of [...exact, ...wildcard]) {
  // Internationalised names as the mail system sees them, in punycode (as the guard looks them up).
  const domain = domainToASCII(entry.trim().toLowerCase().replace(/\.$/, ""));
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(domain)) {
    dropped.add(entry);
    continue;
  }
  if (getDomain(domain) === null) {
    dropped.add(entry);
    continue;
  }
  domains.add(domain);
}

const header = [
  "# Disposable email domains: sign-up refuses addresses at these domains and at their subdomains.",
  `# Built by scripts/update-disposable-domains.ts from the npm package disposable-email-domains@${version}`,
  "# (MIT; its index.json and wildcard.json), less entries that are public suffixes. Do not edit by hand:",
  "# add domains with SIGN_UP_BLOCKED_DOMAINS, refresh with `npm run update-disposable-domains`.",
];
writeFileSync(OUTPUT, `${[...header, ...[...domains].sort()].join("\n")}\n`);
console.log(`${domains.size} domains written to ${OUTPUT.pathname}; left out: ${[...dropped].join(", ") || "none"}`);
