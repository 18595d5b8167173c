// One line of a doctor's report: a rule that passed, or failed with its reason and the fix.

export type RuleResult = { rule: string; ok: boolean; message: string; fix?: string };

export const pass = (rule: string, message: string): RuleResult => ({ rule, ok: true, message });
export const fail = (rule: string, message: string, fix: string): RuleResult => ({ rule, ok: false, message, fix });

/** "PASS rule: what holds" or "FAIL rule: what is wrong. Fix: what to do". */
export function formatResult(result: RuleResult): string {
  if (result.ok) return `PASS ${result.rule}: ${result.message}`;
  return `FAIL ${result.rule}: ${result.message}. Fix: ${result.fix}`;
}

/** The exit status of a report: 0 only when every rule passed. */
export const exitStatus = (results: RuleResult[]): number => (results.every((result) => result.ok) ? 0 : 1);

/** Why `actual` is not the `expected` URL, in the terms of the classic mistakes; undefined when no classic one fits. */
export function urlMismatch(actual: string, expected: string): string | undefined {
  if (actual.replace(/\/+$/, "") === expected.replace(/\/+$/, "")) {
    return actual.length > expected.length ? "it has a trailing '/' that ISSUER lacks" : "it lacks a trailing '/' that the expected value has";
  }
  const a = URL.parse(actual);
  const e = URL.parse(expected);
  if (!a || !e) return undefined;
  const rest = (url: URL) => `${url.port}${url.pathname.replace(/\/+$/, "")}${url.search}`;
  if (a.protocol !== e.protocol && a.hostname === e.hostname && rest(a) === rest(e)) {
    return `it says ${a.protocol.slice(0, -1)} where the IdP says ${e.protocol.slice(0, -1)}`;
  }
  const loopback = ["localhost", "127.0.0.1", "[::1]"];
  if (a.hostname !== e.hostname && loopback.includes(a.hostname) && loopback.includes(e.hostname) && a.protocol === e.protocol && rest(a) === rest(e)) {
    return `it says ${a.hostname} where the IdP says ${e.hostname}: the same machine, but a different string`;
  }
  if (a.origin === e.origin) return `the path differs (${a.pathname} instead of ${e.pathname})`;
  if (a.host !== e.host && a.hostname === e.hostname) return `the port differs (${a.port || "default"} instead of ${e.port || "default"})`;
  return undefined;
}
