// Hostile bytes over raw sockets, as an attacker sends them and no HTTP client library will: bad
// hosts and ports, two Hosts or none, absolute-form targets, control and non-ASCII bytes spliced
// into the request line and the headers, X-Forwarded-Host and -Proto under TRUST_PROXY; to every
// endpoint (discovery, JWKS, authorization and its resume, token, userinfo, end_session,
// revocation, the sign-in pages, probes, stylesheet, unknown paths).
//
// Every answer must parse as HTTP with a status below 500 (or 503 with Retry-After); a request
// whose host is known to be malformed must get 400 and one known to be foreign 421; the provider
// must never derive a URL from a host the IdP does not serve; the process must still answer after.
// Seeded (FUZZ_SEED) and bounded (RAW_FUZZ_RUNS requests per IdP); a failure names the seed and
// the shrunk request.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { formFraming, rawExchange, rawRequest, type RawAnswer } from "../support/raw-http.ts";
import { MALFORMED_HOSTS, NODE_REFUSES, watchProviderHosts } from "../support/hosts.ts";
import { authorizationQuery, REDIRECT_URI, POST_LOGOUT_URI } from "../support/oidc-flow.ts";
import { assertSeeded } from "../support/seeded-property.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_127);
const RUNS = Number(process.env.RAW_FUZZ_RUNS ?? 700);

/** What the test knows about a host value: allowed, well-formed but not served, malformed, or random. */
type Category = "own" | "foreign" | "bad" | "unknown";
type HostValue = { value: string; category: Category };

const FOREIGN_HOSTS = ["evil.example", "evil.example:443", "localhost.evil.example", "10.0.0.1", "10.0.0.1:3000", "[2001:db8::1]", "[2001:db8::1]:8080", "xn--caf-dma.example", "idp", "_"];
/** Bytes no request line or header should carry: C0 controls, DEL, Latin-1 and UTF-8 sequences. */
const HOSTILE_BYTES = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x7f", "\r", "\n", "\t", "\x80", "\xa0", "\xc3\xa9", "\xe2\x80\xa8", "\xef\xbb\xbf", "\xff", "\xf0\x9f\x98\x80"];
const PROBES = new Set(["/healthz", "/readyz", "/metrics"]);

type Endpoint = { method: string; path: string; headers?: [string, string][]; body?: string };

type Fuzzed = {
  method: string;
  path: string;
  target: { form: "origin" | "absolute" | "asterisk" | "malformed"; value: string; authority?: HostValue };
  hosts: HostValue[];
  hostName: string;
  forwardedHost: HostValue[] | undefined;
  forwardedProto: { value: string; bad: boolean } | undefined;
  headers: [string, string][];
  body: string;
  splices: { section: "line" | "headers"; at: number; bytes: string }[];
};

/** The IdP under test and what the test knows of it: its endpoints and its hosts. */
type Subject = { idp: TestIdp; trustProxy: boolean; endpoints: Endpoint[]; own: string[]; anyPortOwn: string[] };

function hostValues(subject: Subject): fc.Arbitrary<HostValue> {
  const withPort = fc
    .tuple(
      fc.oneof(fc.constantFrom(...subject.anyPortOwn).map((name) => ({ name, category: "own" as Category })), fc.constant({ name: "evil.example", category: "foreign" as Category })),
      fc.oneof(
        fc.integer({ min: 1, max: 65_535 }).map((port) => ({ port: String(port), valid: true })),
        fc.integer({ min: 65_536, max: 10_000_000 }).map((port) => ({ port: String(port), valid: false })),
        fc.constantFrom("0", "", "P", "P:P", "-1", "+80", "0x50", "80 80", "8\x0080", "\xef\xbc\x91").map((port) => ({ port, valid: false })),
        fc.constantFrom("00080", "08080").map((port) => ({ port, valid: true })),
      ),
    )
    .map(([{ name, category }, { port, valid }]): HostValue => ({ value: `${name}:${port}`, category: valid ? category : "bad" }));
  // Random text: any byte but CR and LF (those would change the framing; the splices cover them).
  const random = fc.oneof(fc.string({ unit: "binary-ascii", maxLength: 30 }), fc.uint8Array({ maxLength: 30 }).map((bytes) => Buffer.from(bytes).toString("latin1"))).map(
    (text): HostValue => ({ value: text.replace(/[\r\n]/g, ""), category: "unknown" }),
  );
  return fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...subject.own).map((value): HostValue => ({ value, category: "own" })) },
    { weight: 4, arbitrary: fc.constantFrom(...MALFORMED_HOSTS).map((value): HostValue => ({ value, category: "bad" })) },
    { weight: 2, arbitrary: fc.constantFrom(...FOREIGN_HOSTS).map((value): HostValue => ({ value, category: "foreign" })) },
    { weight: 2, arbitrary: withPort },
    { weight: 1, arbitrary: random },
  );
}

function requests(subject: Subject): fc.Arbitrary<Fuzzed> {
  const host = hostValues(subject);
  // Authorities that stay one in an absolute-form target (no '/', '?', '#', space or control byte).
  const authority = fc.oneof(
    fc.constantFrom(...subject.own).map((value): HostValue => ({ value, category: "own" })),
    fc.constantFrom("evil.example", "10.0.0.1:3000", "[2001:db8::1]").map((value): HostValue => ({ value, category: "foreign" })),
    fc.constantFrom("[::1", "user@localhost", "localhost:99999", "localhost:P", "", "caf\xc3\xa9.example").map((value): HostValue => ({ value, category: "bad" })),
  );
  const forwardedProto = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom("https", "http", "HTTPS", "http, https").map((value) => ({ value, bad: false })) },
    { weight: 1, arbitrary: fc.constantFrom("ftp", "[", "h ttp", "https, javascript", "\xff").map((value) => ({ value, bad: true })) },
  );
  return fc
    .record({
      endpoint: fc.constantFrom(...subject.endpoints),
      otherMethod: fc.option(fc.constantFrom("GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE", "PROPFIND", "TRACE"), { freq: 5 }),
      form: fc.oneof(
        { weight: 7, arbitrary: fc.constant("origin") },
        { weight: 2, arbitrary: fc.constant("absolute") },
        { weight: 1, arbitrary: fc.constantFrom("asterisk", "malformed") },
      ),
      authority,
      malformedTarget: fc.constantFrom("oidc/jwks", "", "//evil.example/oidc/jwks", "http:/oidc/jwks", "https:oidc/jwks", "?x"),
      hostCount: fc.oneof({ weight: 10, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.constantFrom(0, 2) }),
      hosts: fc.tuple(host, host),
      hostName: fc.constantFrom("Host", "Host", "host", "HOST"),
      // In a list, a value with a comma is several values: the test no longer knows what it is.
      forwardedHost: fc.option(
        fc.array(host.map((value): HostValue => (value.value.includes(",") ? { ...value, category: "unknown" } : value)), { minLength: 1, maxLength: 3 }),
        { freq: subject.trustProxy ? 3 : 6 },
      ),
      forwardedHostAsHeaders: fc.boolean(),
      forwardedProto: fc.option(forwardedProto, { freq: 3 }),
      splices: fc.oneof(
        { weight: 3, arbitrary: fc.constant<Fuzzed["splices"]>([]) },
        { weight: 1, arbitrary: fc.array(fc.record({ section: fc.constantFrom("line" as const, "headers" as const), at: fc.nat(), bytes: fc.constantFrom(...HOSTILE_BYTES) }), { minLength: 1, maxLength: 2 }) },
      ),
    })
    .map((chosen): Fuzzed => {
      const { endpoint } = chosen;
      const target =
        chosen.form === "origin"
          ? { form: "origin" as const, value: endpoint.path }
          : chosen.form === "absolute"
            ? { form: "absolute" as const, value: `http://${chosen.authority.value}${endpoint.path}`, authority: chosen.authority }
            : chosen.form === "asterisk"
              ? { form: "asterisk" as const, value: "*" }
              : // "//evil.example/..." is an origin-form path to the server; the others are not targets at all.
                { form: chosen.malformedTarget.startsWith("//") ? ("origin" as const) : ("malformed" as const), value: chosen.malformedTarget };
      const forwardedHost = chosen.forwardedHost ?? undefined;
      const headers: [string, string][] = [];
      if (forwardedHost) {
        if (chosen.forwardedHostAsHeaders) for (const value of forwardedHost) headers.push(["X-Forwarded-Host", value.value]);
        else headers.push(["X-Forwarded-Host", forwardedHost.map((value) => value.value).join(", ")]);
      }
      if (chosen.forwardedProto) headers.push(["X-Forwarded-Proto", chosen.forwardedProto.value]);
      return {
        method: chosen.otherMethod ?? endpoint.method,
        path: target.form === "origin" || target.form === "absolute" ? (target.value.startsWith("//") ? target.value : endpoint.path) : target.value,
        target,
        hosts: chosen.hosts.slice(0, chosen.hostCount),
        hostName: chosen.hostName,
        forwardedHost,
        forwardedProto: chosen.forwardedProto ?? undefined,
        headers: [...headers, ...(endpoint.headers ?? [])],
        body: endpoint.body ?? "",
        splices: chosen.splices,
      };
    });
}

function splice(text: string, at: number, bytes: string): string {
  const index = at % (text.length + 1);
  return text.slice(0, index) + bytes + text.slice(index);
}

function toBytes(request: Fuzzed): Buffer {
  let line = `${request.method} ${request.target.value} HTTP/1.1`;
  const headerLines: [string, string][] = [...request.hosts.map((host): [string, string] => [request.hostName, host.value]), ...request.headers, ...formFraming(request.body), ["Connection", "close"]];
  let headers = headerLines.map(([name, value]) => `${name}: ${value}`).join("\r\n");
  for (const { section, at, bytes } of request.splices) {
    if (section === "line") line = splice(line, at, bytes);
    else headers = splice(headers, at, bytes);
  }
  return Buffer.from(`${line}\r\n${headers}\r\n\r\n${request.body}`, "latin1");
}

/**
 * The status the host check must give, when the test can tell: 400 for anything malformed, 421
 * for a well-formed host not served (except on the probes' paths); "not 421" when every name is
 * served. Undefined when bytes were spliced in or a random value decides.
 */
function expectation(request: Fuzzed, trustProxy: boolean): 400 | 421 | "not 421" | undefined {
  if (request.splices.length > 0) return undefined;
  if (request.target.form === "malformed") return 400;
  if (request.hosts.length === 2) return 400;
  const exempt = PROBES.has(request.path);
  if (request.hosts.length === 0 && !exempt) return 400;
  // One empty X-Forwarded-Host counts as none (as in Koa and Fastify); Node trims spaces and tabs.
  const given = trustProxy ? request.forwardedHost : undefined;
  const forwarded = given && !(given.length === 1 && given[0]!.value.replace(/^[ \t]+|[ \t]+$/g, "") === "") ? given : undefined;
  const named = [...(request.target.authority ? [request.target.authority] : []), ...(forwarded ?? request.hosts)];
  if (given && !forwarded && given[0]!.category === "unknown") return undefined;
  const checked = [...request.hosts, ...named];
  if (checked.some((value) => value.category === "bad")) return 400;
  // Node's parser refuses control bytes in any header value, trusted or not.
  if (request.headers.some(([, value]) => NODE_REFUSES.test(value))) return 400;
  if (trustProxy && request.forwardedProto?.bad) return 400;
  if (checked.some((value) => value.category === "unknown")) return undefined;
  if (!exempt && named.some((value) => value.category === "foreign")) return 421;
  return "not 421";
}

/** A GET of `target` with the IdP's own Host, over a fresh connection. */
function get(idp: TestIdp, target: string): Promise<RawAnswer> {
  return rawExchange(Number(new URL(idp.baseUrl).port), rawRequest(`GET ${target} HTTP/1.1`, [["Host", new URL(idp.issuer).host], ["Connection", "close"]]));
}

async function fuzz(subject: Subject, servedHosts: (host: string) => boolean): Promise<Map<string, number>> {
  const port = Number(new URL(subject.idp.baseUrl).port);
  const providerHosts = watchProviderHosts(subject.idp);
  const statuses = new Map<string, number>();
  const property = fc.asyncProperty(requests(subject), async (request) => {
    const bytes = toBytes(request);
    const where = JSON.stringify(bytes.toString("latin1").slice(0, 400));
    let answer: RawAnswer;
    try {
      answer = await rawExchange(port, bytes, { head: request.method === "HEAD" });
    } catch (error) {
      throw new Error(`no HTTP answer to ${where}: ${(error as Error).message}`);
    }
    statuses.set(String(answer.status), (statuses.get(String(answer.status)) ?? 0) + 1);
    const ok = answer.status < 500 || (answer.status === 503 && answer.headers["retry-after"] !== undefined);
    expect(ok, `${answer.status} for ${where}: ${answer.body.toString("latin1").slice(0, 300)}`).toBe(true);
    const expected = expectation(request, subject.trustProxy);
    if (expected === "not 421") expect(answer.status, where).not.toBe(421);
    else if (expected !== undefined) expect(answer.status, `${where}: ${answer.body.toString("latin1").slice(0, 200)}`).toBe(expected);
    if (answer.status === 421) expect(answer.headers["content-security-policy"], where).toMatch(/default-src 'none'/);
  });
  await assertSeeded(property, { seed: SEED, numRuns: RUNS }, `FUZZ_SEED=${SEED} RAW_FUZZ_RUNS=${RUNS}`);
  if (process.env.FUZZ_STATS) console.log([...statuses].sort().map(([status, n]) => `${status}: ${n}`).join(", "));
  // The provider built URLs, and only from hosts the IdP serves.
  expect(providerHosts.length).toBeGreaterThan(0);
  for (const host of new Set(providerHosts)) expect(servedHosts(host), `the provider built a URL for ${host}`).toBe(true);
  // Still alive and answering.
  expect(subject.idp.app.server.listening).toBe(true);
  expect((await get(subject.idp, "/healthz")).status).toBe(200);
  return statuses;
}

const AUTH_QUERY = authorizationQuery();

/** Rate limits out of reach: the generated requests must reach the code behind them. */
const UNLIMITED = { REQUEST_LIMIT_PER_IP: "0", TOKEN_LIMIT_PER_IP: "0", TOKEN_LIMIT_PER_CLIENT: "0", SIGN_IN_LIMIT_PER_IP: "0", SIGN_IN_LIMIT_PER_ACCOUNT: "0" };

/** Starts an IdP with a client and a sign-in in progress, and lists its endpoints with real uids and cookies. */
async function subjectFor(idp: TestIdp, trustProxy: boolean, own: string[], anyPortOwn: string[]): Promise<Subject> {
  await idp.admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: [REDIRECT_URI], postLogoutRedirectUris: [POST_LOGOUT_URI] });
  const auth = await get(idp, `/oidc/auth?${AUTH_QUERY}`);
  expect(auth.status).toBe(303);
  const uid = String(auth.headers.location).split("/").pop()!;
  const cookie = (auth.headers["set-cookie"] ?? []).map((line) => line.split(";")[0]).join("; ");
  const withCookie: [string, string][] = [["Cookie", cookie]];
  const endpoints: Endpoint[] = [
    { method: "GET", path: "/oidc/.well-known/openid-configuration" },
    { method: "GET", path: "/oidc/.well-known/openid-configuration/" },
    { method: "GET", path: "/oidc/jwks" },
    { method: "GET", path: `/oidc/auth?${AUTH_QUERY}` },
    { method: "GET", path: `/oidc/auth/${uid}`, headers: withCookie },
    { method: "POST", path: "/oidc/token", body: "grant_type=authorization_code&code=x&client_id=web&redirect_uri=x" },
    { method: "OPTIONS", path: "/oidc/token", headers: [["Origin", "http://localhost:5173"], ["Access-Control-Request-Method", "POST"]] },
    { method: "GET", path: "/oidc/me", headers: [["Authorization", `Bearer ${"A".repeat(43)}`]] },
    { method: "GET", path: `/oidc/session/end?client_id=web&post_logout_redirect_uri=${encodeURIComponent(POST_LOGOUT_URI)}` },
    { method: "POST", path: "/oidc/session/end/confirm", body: "xsrf=x&logout=yes" },
    { method: "POST", path: "/oidc/token/revocation", body: "token=x&client_id=web" },
    { method: "GET", path: `/interaction/${uid}`, headers: withCookie },
    { method: "POST", path: `/interaction/${uid}/login`, headers: withCookie, body: "email=a%40example.com&password=x" },
    { method: "POST", path: `/interaction/${uid}/confirm`, headers: withCookie, body: "_csrf=x" },
    { method: "POST", path: `/interaction/${uid}/abort`, headers: withCookie, body: "_csrf=x" },
    { method: "GET", path: "/healthz" },
    { method: "GET", path: "/readyz" },
    { method: "GET", path: "/metrics" },
    { method: "GET", path: "/assets/idp.css" },
    { method: "GET", path: "/" },
    { method: "GET", path: "/nowhere" },
    { method: "GET", path: "/oidc/nowhere" },
  ];
  return { idp, trustProxy, endpoints, own, anyPortOwn };
}

describe(`raw-socket fuzzing (fast-check seed ${SEED}, ${RUNS} requests per IdP)`, () => {
  let plain: TestIdp;
  let proxied: TestIdp;

  beforeAll(async () => {
    plain = await startTestIdp({ env: { ...UNLIMITED, KEYS_RELOAD_INTERVAL: "0" } });
    proxied = await startTestIdp({ publicHost: "idp.internal", env: { ...UNLIMITED, KEYS_RELOAD_INTERVAL: "0", TRUST_PROXY: "true", ALLOWED_HOSTS: "auth.example.com" } });
  });
  afterAll(async () => {
    await plain?.close();
    await proxied?.close();
  });

  it("without a proxy: every answer is HTTP below 500; bad hosts 400, foreign ones 421", { timeout: 120_000 }, async () => {
    const port = new URL(plain.baseUrl).port;
    const loopback = ["localhost", "127.0.0.1", "[::1]"];
    const subject = await subjectFor(plain, false, [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, "LOCALHOST", "localhost:1"], loopback);
    const statuses = await fuzz(subject, (host) => loopback.includes(URL.parse(`http://${host}`)!.hostname));
    // The generated requests reach the endpoints too: discovery, the redirect to sign-in, the token check.
    expect([...statuses.keys()]).toEqual(expect.arrayContaining(["200", "303", "400", "401", "404", "421"]));
  });

  it("behind a trusted proxy: X-Forwarded-Host and -Proto are held to the same rules", { timeout: 120_000 }, async () => {
    const issuerHost = new URL(proxied.issuer).host;
    const subject = await subjectFor(proxied, true, [issuerHost, "auth.example.com", "Auth.Example.Com:8443"], ["auth.example.com"]);
    const statuses = await fuzz(subject, (host) => host === issuerHost || URL.parse(`http://${host}`)!.hostname === "auth.example.com");
    expect([...statuses.keys()]).toEqual(expect.arrayContaining(["200", "303", "400", "401", "404", "421"]));
  });
});
