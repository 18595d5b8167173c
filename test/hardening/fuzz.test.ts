// Hostile input to every endpoint and form, generated with fast-check: wrong types, huge bodies,
// invalid UTF-8 and percent-encoding, injection strings (SQL quotes, <script>, ${}, NUL, CRLF),
// repeated parameters, random methods and content types, forged cookies and credentials.
// Every answer must be below 500, show no stack trace or internal path, reflect no markup, carry
// the security headers, redirect nowhere but the registered client URIs, and a refused request
// must leave the users, clients and oidc_payloads tables exactly as they were.
//
// Runs are bounded (FUZZ_RUNS, default 250 per endpoint) and seeded (FUZZ_SEED, default below);
// a failure names the seed and the shrunk request, so it replays exactly. Each endpoint's test also
// checks that its runs reached the code behind the parsers (a 401 from the password check, a 201
// from PAR...). Diagnostics: FUZZ_STATS=1 prints the outcomes per endpoint (=2 with descriptions),
// FUZZ_LOG=1 turns the IdP's error log on.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { fileURLToPath } from "node:url";
import type { InjectOptions, LightMyRequestResponse } from "fastify";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { decodeEntities, findForm } from "../support/browser.ts";
import { assertSeeded } from "../support/seeded-property.ts";
import { createOneTimeTokenStore } from "../../idp/store/one-time-tokens.ts";
import { hashToken } from "../../idp/accounts/password-reset.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_126);
const RUNS = Number(process.env.FUZZ_RUNS ?? 250);

const APP = "http://localhost:5173";
const REDIRECT_URI = `${APP}/callback`;
const POST_LOGOUT_URI = `${APP}/signed-out`;
const REGISTERED = [REDIRECT_URI, POST_LOGOUT_URI];
const alice = { email: "alice@example.com", password: "a long enough passphrase 42" };

let idp: TestIdp;
let partnerSecret: string;
let dataDir: string;

// ------------------------------------------------------------------------------- generators

const INJECTIONS = [
  "' OR '1'='1",
  "'; DROP TABLE users; --",
  '" OR ""="',
  "\\'; SELECT pg_sleep(0); --",
  "<script>alert(1)</script>",
  '"><svg onload=alert(1)>',
  "<img src=x onerror=alert(1)>",
  "javascript:alert(1)",
  "${7*7}",
  "{{7*7}}",
  "#{7*7}",
  "%s%s%s%n",
  "\u0000",
  "a\u0000b",
  "\r\nX-Injected: 1",
  "x\r\nSet-Cookie: injected=1",
  "\n\n<h1>injected</h1>",
  "../../../../etc/passwd",
  "..%2F..%2Fetc%2Fpasswd",
  "\uFEFF",
  "\uFFFF",
  "\uD800",
  "\uDFFF\uD800",
  "𝕏😀",
  "__proto__",
  "constructor",
  "prototype",
  "null",
  "undefined",
  "NaN",
  "-1",
  "1e309",
  "[]",
  "{}",
  '{"$ne":null}',
  "",
  " ",
  "https://evil.example/",
  "//evil.example/",
  "http://localhost:5173@evil.example/callback",
];

/** Percent-encoding that does not decode to valid UTF-8, or does not decode at all. */
const BAD_PERCENT = ["%", "%z", "%zz", "%E0%A4%A", "%C0%AF", "%FF%FE", "%ED%A0%80", "%00", "%0d%0aX-Injected:%201", "%u0041", "%%32%30"];

const hostileText: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...INJECTIONS) },
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom("a".repeat(5000), "é".repeat(3000), "\u0000".repeat(64), "%".repeat(2000)) },
);

/** A query or form component: UTF-8 bytes, percent-encoded (lone surrogates become U+FFFD, as on the wire). */
function pct(text: string): string {
  let out = "";
  for (const byte of Buffer.from(text, "utf8")) {
    const char = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-_.~]/.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/**
 * The parameters of a well-formed request to an endpoint: `spec` the required ones and `optional`
 * the others, each with values the endpoint accepts; `nearMiss` values it should refuse (an
 * unsupported response_type, a redirect URI one character off). Mutated requests start from a
 * well-formed one and break it a little (a value swapped for a near miss or hostile text, a
 * parameter dropped or repeated, junk added), so most of them get past the parsers into the code
 * behind them.
 */
type ParamSpec = Record<string, fc.Arbitrary<string>>;
type Shape = { spec: ParamSpec; optional?: ParamSpec; nearMiss?: ParamSpec };
type Pairs = [string, string][];

function params({ spec, optional = {}, nearMiss = {} }: Shape): fc.Arbitrary<Pairs> {
  const variants = (name: string, valid: fc.Arbitrary<string>, presentWeight: number, absentWeight: number) =>
    fc.oneof(
      { weight: presentWeight, arbitrary: valid.map((value): Pairs => [[name, value]]) },
      ...(Object.hasOwn(nearMiss, name) ? [{ weight: 2, arbitrary: nearMiss[name]!.map((value): Pairs => [[name, value]]) }] : []),
      { weight: 2, arbitrary: hostileText.map((value): Pairs => [[name, value]]) },
      // A valid value with a NUL or CRLF spliced in: what a C-string or header confusion would need.
      { weight: 1, arbitrary: fc.tuple(valid, fc.constantFrom("\u0000", "\r\nX-Injected: 1"), fc.nat()).map(([value, splice, at]): Pairs => [[name, value.slice(0, at % (value.length + 1)) + splice + value.slice(at % (value.length + 1))]]) },
      { weight: absentWeight, arbitrary: fc.constant<Pairs>([]) },
      { weight: 1, arbitrary: fc.tuple(valid, hostileText).map(([value, other]): Pairs => [[name, value], [name, other]]) },
    );
  const required = Object.entries(spec).map(([name, valid]) => variants(name, valid, 16, 1));
  const optionals = Object.entries(optional).map(([name, valid]) => variants(name, valid, 4, 12));
  const junk = fc.array(fc.tuple(fc.oneof(fc.constantFrom("__proto__", "constructor", "request", "request_uri", "resource"), hostileText), hostileText), {
    maxLength: 2,
  });
  return fc.tuple(fc.tuple(...required), fc.tuple(...optionals), junk).map(([chosen, maybe, extra]) => [...chosen.flat(), ...maybe.flat(), ...extra]);
}

/** As a raw urlencoded string, sometimes with a broken percent-escape spliced in. */
function urlencoded(pairs: fc.Arbitrary<Pairs>): fc.Arbitrary<string> {
  return fc
    .tuple(pairs, fc.option(fc.tuple(fc.constantFrom(...BAD_PERCENT), fc.nat()), { freq: 6 }))
    .map(([chosen, broken]) => {
      const encoded = chosen.map(([name, value]) => `${pct(name)}=${pct(value)}`);
      if (broken) encoded[broken[1] % (encoded.length + 1)] = `${encoded[broken[1] % (encoded.length + 1)] ?? "x="}${broken[0]}`;
      return encoded.join("&");
    });
}

/** The same parameters as a JSON object, some values of the wrong type. */
function asJson(pairs: fc.Arbitrary<Pairs>): fc.Arbitrary<string> {
  const wrongType = fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(hostileText, { maxLength: 3 }), fc.dictionary(hostileText, hostileText, { maxKeys: 3 }));
  return fc
    .tuple(pairs, fc.array(fc.option(wrongType, { freq: 2 }), { minLength: 12, maxLength: 12 }))
    .map(([chosen, types]) => JSON.stringify(Object.fromEntries(chosen.map(([name, value], index) => [name, types[index % 12] ?? value]))));
}

const FORM = "application/x-www-form-urlencoded";
const CONTENT_TYPES = [
  FORM,
  `${FORM}; charset=utf-8`,
  `${FORM}; charset=latin1`,
  `${FORM}; charset=utf-9000`,
  "application/json",
  "application/json; charset=utf-16",
  "text/plain",
  "text/html",
  "multipart/form-data; boundary=----x",
  "application/xml",
  "application/octet-stream",
  "*/*",
  `${FORM}, application/json`,
  "nonsense",
  "",
];

type Body = { contentType?: string; payload?: string | Buffer };

function bodies(shape: Shape): fc.Arbitrary<Body> {
  const pairs = params(shape);
  const first = Object.keys(shape.spec)[0]!;
  return fc.oneof(
    { weight: 8, arbitrary: fc.record({ contentType: fc.constant(FORM), payload: urlencoded(pairs) }) },
    { weight: 2, arbitrary: fc.record({ contentType: fc.constantFrom(...CONTENT_TYPES), payload: urlencoded(pairs) }) },
    { weight: 2, arbitrary: fc.record({ contentType: fc.constantFrom("application/json", FORM), payload: asJson(pairs) }) },
    { weight: 1, arbitrary: fc.record({ contentType: fc.constantFrom(...CONTENT_TYPES), payload: fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)) }) },
    { weight: 1, arbitrary: fc.record({ contentType: fc.constantFrom(FORM, "application/json"), payload: fc.constantFrom("{", '{"a":', "=", "&&&", "a=%", "\u0000") }) },
    // Past both body limits (Fastify's 64 KiB, the provider's 56 KiB), and one under them.
    {
      weight: 1,
      arbitrary: fc.record({
        contentType: fc.constantFrom(FORM, "application/json", "text/plain"),
        payload: fc.constantFrom(40 * 1024, 60 * 1024, 70 * 1024, 1024 * 1024).map((size) => `${first}=${"a".repeat(size)}`),
      }),
    },
    { weight: 1, arbitrary: fc.constant<Body>({}) },
  );
}

/** Header values as an HTTP parser would let them through: visible ASCII, spaces, tabs and Latin-1. */
const headerSafe = (text: string) => text.replace(/[^\t\x20-\x7e\x80-\xff]/g, "");

const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "PROPFIND", "TRACE"] as const;
const method = (usual: string[]) => fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...usual) }, { weight: 1, arbitrary: fc.constantFrom(...METHODS) });

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${pct(user)}:${pct(password)}`).toString("base64")}`;
}

/** Client authentication: the real confidential client's (mostly), none, or forged in every way. */
const authorization = (): fc.Arbitrary<string | undefined> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constant("__partner__") }, // replaced by the real credentials once the IdP runs
    { weight: 2, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: hostileText.map((user) => basic(user, "secret")) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom("partner", "web"), hostileText).map(([user, secret]) => basic(user, secret)) },
    { weight: 1, arbitrary: hostileText.map((text) => `Basic ${headerSafe(text)}`) },
    { weight: 1, arbitrary: hostileText.map((text) => `Bearer ${headerSafe(text)}`) },
    { weight: 1, arbitrary: hostileText.map((text) => `DPoP ${headerSafe(text)}`) },
    { weight: 1, arbitrary: hostileText.map(headerSafe) },
  );

/** Looks like a token, code or id the IdP issues, but is not one. */
const tokenLike = fc.stringMatching(/^[A-Za-z0-9_-]{43}$/);

const accept = fc.constantFrom(undefined, "text/html", "application/json", "*/*", "text/html;q=0, application/json;q=0", "image/png");
const origin = fc.oneof({ weight: 6, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom(APP, "https://evil.example", "null") });

type Request = { method: string; url: string; headers: Record<string, string>; body: Body };

function toInject(request: Request): InjectOptions {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) if (value !== undefined) headers[name] = value;
  if (request.headers.authorization === "__partner__") headers.authorization = `Basic ${Buffer.from(`partner:${partnerSecret}`).toString("base64")}`;
  if (request.body.contentType) headers["content-type"] = request.body.contentType;
  return {
    method: request.method as InjectOptions["method"],
    url: request.url,
    headers,
    ...(request.body.payload !== undefined && request.method !== "GET" && request.method !== "HEAD" ? { payload: request.body.payload } : {}),
  };
}

// ------------------------------------------------------------------------------- properties

type Snapshot = Record<string, string>;

/** Counts and a digest of every row of the tables a refused request must not touch. */
async function snapshot(): Promise<Snapshot> {
  const { rows } = await idp.database.db.query<Snapshot>(`
    SELECT (SELECT count(*) FROM users)::text AS users,
           (SELECT md5(coalesce(string_agg(u::text, '|' ORDER BY id), '')) FROM users u) AS users_digest,
           (SELECT count(*) FROM clients)::text AS clients,
           (SELECT md5(coalesce(string_agg(c::text, '|' ORDER BY id), '')) FROM clients c) AS clients_digest,
           (SELECT count(*) FROM oidc_payloads)::text AS oidc_payloads,
           (SELECT md5(coalesce(string_agg(p::text, '|' ORDER BY model, id), '')) FROM oidc_payloads p) AS oidc_payloads_digest`);
  return rows[0]!;
}

const STACK_FRAME = /\bat [^\n]*:\d+:\d+\)?/;
// The checkout's own absolute path, wherever it lies: no answer may reveal where the IdP runs from.
const CHECKOUT = new RegExp(fileURLToPath(new URL("../..", import.meta.url)).replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
const INTERNAL = [/node_modules/, CHECKOUT, STACK_FRAME, /\/tmp\/idp-/, /ECONNREFUSED|invalid byte sequence|syntax error at or near/i];
const REFLECTED_MARKUP = [/<script>alert\(/i, /<svg onload=/i, /<img src=x onerror/i, /<h1>injected/i];

/** Where a response may send the browser: the IdP itself, or exactly a registered client URI. */
function allowedLocation(location: string): boolean {
  const url = URL.parse(location, idp.baseUrl);
  if (!url) return false;
  if (url.origin === idp.baseUrl) return true;
  return REGISTERED.includes(url.origin + url.pathname) && !url.username && !url.password;
}

function checkResponse(request: Request, response: LightMyRequestResponse): void {
  const where = `${request.method} ${request.url.slice(0, 200)}`;
  expect(response.statusCode, `${where}: ${response.body.slice(0, 300)}`).toBeLessThan(500);
  for (const pattern of INTERNAL) expect(response.body, `${where}: leaks ${pattern}`).not.toMatch(pattern);
  if (String(response.headers["content-type"] ?? "").startsWith("text/html")) {
    for (const pattern of REFLECTED_MARKUP) expect(response.body, `${where}: reflects ${pattern}`).not.toMatch(pattern);
  }
  const location = response.headers.location;
  if (location !== undefined) expect(allowedLocation(String(location)), `${where}: redirects to ${location}`).toBe(true);
  expect(response.headers["x-injected"], where).toBeUndefined();
  for (const line of [response.headers["set-cookie"] ?? []].flat()) expect(line, where).not.toMatch(/^injected=/);
  expect(response.headers["content-security-policy"], where).toMatch(/default-src 'none'/);
  expect(response.headers["x-content-type-options"], where).toBe("nosniff");
  if (response.statusCode >= 400) expectRenderedError(where, request.method, response);
}

/**
 * Every error answer comes out of the one renderer (idp/http/error-responses.ts): a JSON body of
 * exactly `error` and `error_description`, or the error page, which names its code in data-error.
 * The one other 4xx page is a form shown again with its errors listed (a refused sign-in).
 */
function expectRenderedError(where: string, method: string, response: LightMyRequestResponse): void {
  const type = String(response.headers["content-type"] ?? "");
  if (method === "HEAD") return; // no body to look at
  if (type.startsWith("text/html")) {
    if (response.body.includes('<div class="error-summary" role="alert"')) return;
    // An OAuth error delivered to the client by response_mode=form_post is the protocol's answer, not a page.
    const formPost = /<form method="post" action="([^"]+)">\s*<input type="hidden" name="error"/.exec(response.body);
    if (formPost && allowedLocation(decodeEntities(formPost[1]!))) return;
    expect(response.body, `${where}: an error page not from the renderer`).toMatch(/<main id="content" data-error="[a-z_]+">/);
    return;
  }
  expect(type, `${where}: error content type`).toMatch(/^application\/json/);
  const body = JSON.parse(response.body) as Record<string, unknown>;
  expect(Object.keys(body).sort(), `${where}: ${response.body.slice(0, 200)}`).toEqual(["error", "error_description"]);
  expect(body.error, where).toMatch(/^[a-z_]+$/);
  expect(typeof body.error_description, where).toBe("string");
}

/** What happened, for the coverage checks: "303 to sign-in", "400 invalid_grant", "404", ... */
function outcome(response: LightMyRequestResponse): string {
  const location = String(response.headers.location ?? "");
  if (location) {
    const detail = process.env.FUZZ_STATS === "2" ? ` (${URL.parse(location, APP)?.searchParams.get("error_description")})` : "";
    return `${response.statusCode} ${location.includes("/interaction/") ? "to sign-in" : location.startsWith(APP) ? `to the client${detail}` : `to ${location}`}`;
  }
  let error: unknown;
  try {
    const parsed = JSON.parse(response.body) as { error?: unknown; error_description?: unknown };
    error = process.env.FUZZ_STATS === "2" ? `${parsed.error} (${parsed.error_description})` : parsed.error;
  } catch {
    error = undefined;
  }
  return typeof error === "string" ? `${response.statusCode} ${error}` : String(response.statusCode);
}

/**
 * Runs `runs` generated requests against one endpoint. `mayWrite` says which answers are allowed to
 * have changed the database (a request the IdP accepted); every other one must leave it untouched.
 */
async function fuzz(
  requests: fc.Arbitrary<Request>,
  mayWrite: (request: Request, response: LightMyRequestResponse) => boolean = () => false,
  runs = RUNS,
): Promise<Map<string, number>> {
  const statuses = new Map<string, number>();
  const property = fc.asyncProperty(requests, async (request) => {
    const before = await snapshot();
    const response = await idp.app.inject(toInject(request));
    const seen = outcome(response);
    statuses.set(seen, (statuses.get(seen) ?? 0) + 1);
    checkResponse(request, response);
    if (!mayWrite(request, response)) expect(await snapshot(), `${request.method} ${request.url.slice(0, 200)} changed the database`).toEqual(before);
  });
  await assertSeeded(property, { seed: SEED, numRuns: runs }, `FUZZ_SEED=${SEED} FUZZ_RUNS=${runs}`);
  if (process.env.FUZZ_STATS) console.log([...statuses].sort().map(([seen, n]) => `${seen}: ${n}`).join(", "));
  return statuses;
}

/**
 * Requests to one path. Three in four are mutated (method, parameters in the query for GET and
 * mostly in the body otherwise, body encoding and headers all generated); one in four is a
 * well-formed request with the endpoint's usual method, a form body, the baseline credentials and
 * only plausible values (which may still be hostile where the spec allows free text), so that the
 * code behind the parsers is reached too.
 */
function requestsTo(
  path: fc.Arbitrary<string>,
  options: Shape & {
    methods: string[];
    authorization?: fc.Arbitrary<string | undefined>;
    cookie?: fc.Arbitrary<string | undefined>;
    /** The credentials of a well-formed request: an Authorization and a Cookie header. */
    baseline?: { authorization?: string; cookie?: string };
  },
): fc.Arbitrary<Request> {
  const headers = (values: Record<string, string | undefined>) =>
    Object.fromEntries(Object.entries(values).filter((entry): entry is [string, string] => entry[1] !== undefined));
  const mutated = fc
    .record({
      method: method(options.methods),
      path,
      query: urlencoded(params(options)),
      queryToo: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
      body: bodies(options),
      authorization: options.authorization ?? authorization(),
      cookie: options.cookie ?? fc.constant(undefined),
      accept,
      origin,
    })
    .map(({ method, path, query, queryToo, body, authorization, cookie, accept, origin }): Request => {
      const inQuery = method === "GET" || method === "HEAD" || queryToo;
      return {
        method,
        url: inQuery && query ? `${path}?${query}` : path,
        body: method === "GET" || method === "HEAD" ? {} : body,
        headers: headers({ authorization, cookie, accept, origin }),
      };
    });
  const optionalValues = Object.entries(options.optional ?? {}).map(([name, value]) => fc.option(value.map((chosen): [string, string] => [name, chosen]), { freq: 3 }));
  const wellFormed = fc
    .record({
      path,
      required: fc.tuple(...Object.entries(options.spec).map(([name, value]) => value.map((chosen): [string, string] => [name, chosen]))),
      optional: fc.tuple(...optionalValues),
      accept,
    })
    .map(({ path, required, optional, accept }): Request => {
      const encoded = [...required, ...optional.filter((pair) => pair !== null)].map(([name, value]) => `${pct(name)}=${pct(value)}`).join("&");
      const method = options.methods[0]!;
      const inQuery = method === "GET";
      return {
        method,
        url: inQuery ? `${path}?${encoded}` : path,
        body: inQuery ? {} : { contentType: FORM, payload: encoded },
        headers: headers({ authorization: options.baseline?.authorization, cookie: options.baseline?.cookie, accept }),
      };
    });
  return fc.oneof({ weight: 3, arbitrary: mutated }, { weight: 1, arbitrary: wellFormed });
}

// ------------------------------------------------------------------------------- the IdP

/** A login page in progress: its uid, the cookies the browser holds, and the form's CSRF token. */
type Interaction = { uid: string; cookie: string; csrf: string };

function cookiesOf(response: LightMyRequestResponse): string[] {
  return [response.headers["set-cookie"] ?? []].flat().map((line) => String(line).split(";")[0]!);
}

async function startInteraction(clientId: string): Promise<Interaction> {
  const params = new URLSearchParams({
    client_id: clientId,
    response_type: "code",
    scope: "openid email",
    redirect_uri: REDIRECT_URI,
    code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    code_challenge_method: "S256",
  });
  const auth = await idp.app.inject({ url: `/oidc/auth?${params}` });
  const uid = String(auth.headers.location).split("/").pop()!;
  const cookies = cookiesOf(auth);
  const page = await idp.app.inject({ url: `/interaction/${uid}`, headers: { cookie: cookies.join("; ") } });
  expect(page.statusCode).toBe(200);
  const csrf = findForm(page.body, "/login").hidden._csrf!;
  return { uid, cookie: [...cookies, ...cookiesOf(page)].join("; "), csrf };
}

/** The interaction's real cookies (mostly), a tampered copy, or hostile ones. */
function cookieFor(interaction: Interaction): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constant(interaction.cookie) },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: hostileText.map((text) => interaction.cookie.replace(/(_interaction=)[^;]*/, `$1${headerSafe(text)}`)) },
    { weight: 1, arbitrary: hostileText.map((text) => `_interaction=${headerSafe(text)}; _interaction.sig=${headerSafe(text)}; _csrf=${headerSafe(text)}`) },
  );
}

/** The uid in the path: the real one mostly, otherwise anything, raw or broken. */
function uidPath(interaction: Interaction, suffix: string): fc.Arbitrary<string> {
  return fc
    .oneof(
      { weight: 4, arbitrary: fc.constant(interaction.uid) },
      { weight: 1, arbitrary: hostileText.map(pct) },
      { weight: 1, arbitrary: fc.constantFrom(...BAD_PERCENT) },
      { weight: 1, arbitrary: fc.constantFrom("..", ".", "%2e%2e", "a".repeat(65), "a".repeat(5000)) },
    )
    .map((uid) => `/interaction/${uid}${suffix}`);
}

beforeAll(async () => {
  // Rate limits and the lockout so high they never trigger, and no delay after a failure: hostile
  // input must reach the code behind them (the abuse suites test the limits themselves), while
  // the counters keyed by address, client and email still see every request.
  const unreachable = "1000000000";
  const abuseLimitsOutOfReach = {
    PASSWORD_RESET_LIMIT_PER_IP: unreachable,
    PASSWORD_RESET_LIMIT_PER_ACCOUNT: unreachable,
    REQUEST_LIMIT_PER_IP: unreachable,
    SIGN_IN_LIMIT_PER_IP: unreachable,
    SIGN_IN_LIMIT_PER_ACCOUNT: unreachable,
    TOKEN_LIMIT_PER_IP: unreachable,
    TOKEN_LIMIT_PER_CLIENT: unreachable,
    LOCKOUT_THRESHOLD: unreachable,
    SIGN_IN_DELAY_MAX_MS: "0",
  };
  // Without SMTP_URL, mail (password reset) goes to .eml files under DATA_DIR.
  dataDir = await mkdtemp(path.join(os.tmpdir(), "idp-fuzz-"));
  idp = await startTestIdp({ listen: false, env: { ...abuseLimitsOutOfReach, DATA_DIR: dataDir }, logger: process.env.FUZZ_LOG ? ({ level: "error" } as never) : false });
  await idp.admin.addUser(alice);
  await idp.admin.addClient({ id: "web", name: "Web", public: true, firstParty: true, redirectUris: [REDIRECT_URI], postLogoutRedirectUris: [POST_LOGOUT_URI] });
  partnerSecret = (await idp.admin.addClient({ id: "partner", name: "Partner", public: false, firstParty: false, redirectUris: [REDIRECT_URI] })).secret!;
});

afterAll(async () => {
  await idp?.close();
  await rm(dataDir, { recursive: true, force: true });
});

/** The password reset request form: its CSRF cookie (under /reset) and token. */
async function startPasswordReset(): Promise<{ cookie: string; csrf: string }> {
  const page = await idp.app.inject({ url: "/reset" });
  expect(page.statusCode).toBe(200);
  return { cookie: cookiesOf(page).join("; "), csrf: findForm(page.body, "/reset").hidden._csrf! };
}

/** A live reset link of alice's, issued as a request for one would (without the mail). */
async function issueResetToken(): Promise<string> {
  const token = randomBytes(32).toString("base64url");
  const expiresAt = new Date(Date.now() + 3_600_000);
  const issued = await createOneTimeTokenStore(idp.database.db).requestByEmail({
    purpose: "password_reset",
    email: alice.email,
    issue: true,
    tokenHash: hashToken(token),
    expiresAt,
    locale: "en",
    interactionUid: null,
    mail: { template: "password_reset", payload: Buffer.from("not sealed: never sent"), sendBefore: new Date(0) },
    audit: { event: "password.reset_requested", ip: null, userAgent: null, details: {} },
  });
  expect(issued).toBe(true);
  return token;
}

/** Values that are almost right: refused, never mistaken for the registered ones. */
const NEAR_MISS_CLIENT_IDS = fc.constantFrom("service", "Web", "web ", "nobody", "web\u0000");
const NEAR_MISS_REDIRECTS = fc.constantFrom(
  `${REDIRECT_URI}/`,
  `${REDIRECT_URI}?a=1`,
  `${REDIRECT_URI}#x`,
  "HTTP://LOCALHOST:5173/callback",
  "http://localhost:5174/callback",
  "http://evil.example@localhost:5173/callback",
  "https://evil.example/callback",
  POST_LOGOUT_URI,
);

/** The outcomes a fuzz run saw (see outcome()). */
const outcomes = (seen: Map<string, number>): string[] => [...seen.keys()];

/** An authorization request (for /auth, and for pushed authorization requests). */
const authorizationRequest = (clientIds: fc.Arbitrary<string>): Shape => ({
  spec: {
    client_id: clientIds,
    response_type: fc.constant("code"),
    scope: fc.constantFrom("openid", "openid email profile offline_access"),
    redirect_uri: fc.constant(REDIRECT_URI),
    state: tokenLike,
    nonce: tokenLike,
    code_challenge: tokenLike,
    code_challenge_method: fc.constant("S256"),
  },
  optional: {
    prompt: fc.constantFrom("login", "consent"),
    login_hint: fc.constant(alice.email),
    response_mode: fc.constantFrom("query", "form_post"),
    max_age: fc.constantFrom("0", "60"),
    ui_locales: fc.constantFrom("en", "de-CH fr"),
  },
  nearMiss: {
    client_id: NEAR_MISS_CLIENT_IDS,
    response_type: fc.constantFrom("token", "id_token", "none", "code token"),
    scope: fc.constantFrom("email", "openid admin"),
    redirect_uri: NEAR_MISS_REDIRECTS,
    code_challenge: fc.constantFrom("short", ""),
    code_challenge_method: fc.constantFrom("plain", "s256"),
    prompt: fc.constantFrom("none", "select_account", "login none"),
    response_mode: fc.constantFrom("fragment", "jwt", "web_message"),
    max_age: fc.constantFrom("-1", "1e9", "0x10"),
  },
});

describe(`hostile input (fast-check seed ${SEED}, ${RUNS} runs per endpoint)`, () => {
  it("password reset request form: no 5xx; users, clients and oidc state untouched", { timeout: 120_000 }, async () => {
    const form = await startPasswordReset();
    const seen = await fuzz(
      requestsTo(fc.oneof({ weight: 6, arbitrary: fc.constant("/reset") }, { weight: 1, arbitrary: hostileText.map((text) => `/reset?${pct(text)}`) }), {
        methods: ["POST"],
        spec: {
          email: fc.oneof(fc.constantFrom(alice.email, "ALICE@example.com", "nobody@example.com"), hostileText),
          _csrf: fc.constant(form.csrf),
        },
        optional: { interaction: tokenLike, ui_locales: fc.constantFrom("de", "ja fr", "xx") },
        nearMiss: {
          email: fc.constantFrom("alice@example.com\u0000", "alice@example.com\r\nBcc: bob@example.com", "a".repeat(321), "no-at-sign", "@"),
          interaction: fc.constantFrom("../x", "a".repeat(65), "<script>"),
        },
        cookie: fc.oneof({ weight: 4, arbitrary: fc.constant(form.cookie) }, { weight: 1, arbitrary: hostileText.map((text) => `_csrf=${headerSafe(text)}`) }),
        baseline: { cookie: form.cookie },
      }),
    );
    expect(outcomes(seen)).toEqual(expect.arrayContaining(["200", "400", "403"]));
  });

  it("password reset link form: no 5xx; writes only when it sets the password", { timeout: 120_000 }, async () => {
    const token = await issueResetToken();
    const page = await idp.app.inject({ url: `/reset/${token}` });
    expect(page.statusCode).toBe(200);
    const cookie = cookiesOf(page).join("; ");
    const csrf = findForm(page.body, `/reset/${token}`).hidden._csrf!;
    const paths = fc
      .oneof(
        { weight: 4, arbitrary: fc.constant(token) },
        { weight: 1, arbitrary: tokenLike },
        { weight: 1, arbitrary: hostileText.map(pct) },
        { weight: 1, arbitrary: fc.constantFrom(...BAD_PERCENT) },
      )
      .map((value) => `/reset/${value}`);
    const seen = await fuzz(
      requestsTo(paths, {
        methods: ["POST"],
        spec: { password: fc.constant("violet tractor sandwich"), repeat: fc.constant("violet tractor sandwich"), _csrf: fc.constant(csrf) },
        nearMiss: { password: fc.constantFrom("short", "password123", alice.email, "x".repeat(1025)), repeat: fc.constantFrom("", "violet tractor sandwich ") },
        cookie: fc.oneof({ weight: 4, arbitrary: fc.constant(cookie) }, { weight: 1, arbitrary: hostileText.map((text) => `_csrf=${headerSafe(text)}`) }),
        baseline: { cookie },
      }),
      // The one post that sets the password changes users and signs alice out (oidc state).
      (_request, response) => response.statusCode === 200,
    );
    expect(outcomes(seen)).toEqual(expect.arrayContaining(["200", "400", "403"]));
  });

  it("token endpoint: refuses without a 5xx or a database write", { timeout: 120_000 }, async () => {
    const seen = await fuzz(
      requestsTo(fc.constant("/oidc/token"), {
        methods: ["POST"],
        baseline: { authorization: "__partner__" },
        spec: { grant_type: fc.constantFrom("authorization_code", "refresh_token", "client_credentials"), client_id: fc.constant("partner") },
        optional: { code: tokenLike, redirect_uri: fc.constant(REDIRECT_URI), code_verifier: tokenLike, refresh_token: tokenLike, scope: fc.constantFrom("openid", "openid email") },
        nearMiss: {
          grant_type: fc.constantFrom("password", "implicit", "urn:ietf:params:oauth:grant-type:device_code", "AUTHORIZATION_CODE"),
          client_id: NEAR_MISS_CLIENT_IDS,
          redirect_uri: NEAR_MISS_REDIRECTS,
          scope: fc.constantFrom("admin", "openid openid"),
        },
      }),
    );
    // The generated requests reach the grant handlers, not just the parsers.
    expect(outcomes(seen)).toEqual(expect.arrayContaining(["400 invalid_grant", "401 invalid_client"]));
  });

  it("revocation endpoint: refuses without a 5xx or a database write", { timeout: 120_000 }, async () => {
    const seen = await fuzz(
      requestsTo(fc.constant("/oidc/token/revocation"), {
        methods: ["POST"],
        baseline: { authorization: "__partner__" },
        spec: { token: tokenLike, client_id: fc.constant("partner") },
        optional: { token_type_hint: fc.constantFrom("access_token", "refresh_token") },
        nearMiss: { client_id: NEAR_MISS_CLIENT_IDS, token_type_hint: fc.constantFrom("id_token", "authorization_code") },
      }),
    );
    // An unknown token with valid client credentials is "revoked" (RFC 7009): 200, nothing written.
    expect(outcomes(seen)).toEqual(expect.arrayContaining(["200", "401 invalid_client"]));
  });

  it("userinfo endpoint: refuses without a 5xx or a database write", { timeout: 120_000 }, async () => {
    const bearer = fc.oneof(tokenLike.map((token) => `Bearer ${token}`), authorization());
    const seen = await fuzz(
      requestsTo(fc.constant("/oidc/me"), {
        methods: ["GET", "POST"],
        spec: {},
        optional: { claims: fc.constant('{"userinfo":{"email":null}}'), access_token: tokenLike },
        authorization: bearer,
        baseline: { authorization: `Bearer ${"A".repeat(43)}` },
      }),
    );
    expect(outcomes(seen)).toEqual(expect.arrayContaining(["401 invalid_token", "400 invalid_request"]));
  });

  it("jwks and discovery: answer without a 5xx or a database write", { timeout: 120_000 }, async () => {
    const seen = await fuzz(
      requestsTo(fc.constantFrom("/oidc/jwks", "/oidc/.well-known/openid-configuration", "/oidc/jwks/", "/oidc/.well-known/openid-configuration/x"), {
        methods: ["GET", "OPTIONS", "HEAD"],
        spec: {},
        optional: { kid: tokenLike },
      }),
    );
    expect(outcomes(seen)).toEqual(expect.arrayContaining(["200", "404"]));
  });

  it("authorization endpoint: no 5xx; writes only when it starts a sign-in; redirects only to registered URIs", { timeout: 120_000 }, async () => {
    const seen = await fuzz(
      // GET only: POST to /auth and /session/end is off (oidc-provider's enableHttpPostMethods): 404.
      requestsTo(fc.constant("/oidc/auth"), { methods: ["GET"], ...authorizationRequest(fc.constantFrom("web", "partner")) }),
      // A valid request stores its Interaction and sends the browser to the sign-in page.
      (_request, response) => String(response.headers.location ?? "").startsWith("/interaction/"),
    );
    expect(outcomes(seen)).toEqual(expect.arrayContaining(["303 to sign-in", "303 to the client", "400"]));
  });

  it("pushed authorization requests: no 5xx; writes only the request it accepts", { timeout: 120_000 }, async () => {
    const seen = await fuzz(
      requestsTo(fc.constant("/oidc/request"), {
        methods: ["POST"],
        authorization: fc.oneof({ weight: 4, arbitrary: fc.constant("__partner__") }, { weight: 1, arbitrary: authorization() }),
        baseline: { authorization: "__partner__" },
        // The body's client_id must match the client authentication: the real confidential client's.
        ...authorizationRequest(fc.constant("partner")),
      }),
      (_request, response) => response.statusCode === 201,
    );
    expect(outcomes(seen)).toEqual(expect.arrayContaining(["201", "400 invalid_request"]));
  });

  it("end_session: no 5xx; redirects only to registered URIs", { timeout: 120_000 }, async () => {
    const seen = await fuzz(
      requestsTo(fc.constant("/oidc/session/end"), {
        methods: ["GET"],
        spec: { client_id: fc.constant("web"), post_logout_redirect_uri: fc.constant(POST_LOGOUT_URI) },
        optional: { state: fc.oneof(tokenLike, hostileText), ui_locales: fc.constant("en"), logout_hint: fc.constant(alice.email) },
        nearMiss: {
          client_id: NEAR_MISS_CLIENT_IDS,
          post_logout_redirect_uri: NEAR_MISS_REDIRECTS,
          id_token_hint: fc.constantFrom("eyJhbGciOiJub25lIn0.eyJhdWQiOiJ3ZWIifQ.", "a.b.c", "not a jwt"),
        },
      }),
      // Offering to sign out stores the confirmation's anti-CSRF secret in a (new) session.
      (_request, response) => response.statusCode === 200,
    );
    expect(outcomes(seen)).toEqual(expect.arrayContaining(["200", "400 invalid_request"]));
  });

  it("end_session confirmation: refuses a forged confirmation without a 5xx or a database write", { timeout: 120_000 }, async () => {
    const seen = await fuzz(
      requestsTo(fc.constant("/oidc/session/end/confirm"), {
        methods: ["POST"],
        spec: { xsrf: tokenLike },
        optional: { logout: fc.constant("yes") },
        cookie: fc.option(hostileText.map((text) => `_session=${headerSafe(text)}; _session.sig=${headerSafe(text)}`)).map((cookie) => cookie ?? undefined),
      }),
    );
    expect(outcomes(seen)).toEqual(expect.arrayContaining(["400 invalid_request"]));
  });

  it("sign-in form: refuses without a 5xx or a database write", { timeout: 180_000 }, async () => {
    const interaction = await startInteraction("web");
    const seen = await fuzz(
      requestsTo(uidPath(interaction, "/login"), {
        methods: ["POST"],
        spec: {
          email: fc.oneof(fc.constantFrom(alice.email, "ALICE@example.com", " alice@example.com", "nobody@example.com"), hostileText),
          password: fc.oneof(fc.string({ minLength: 8, maxLength: 40 }), hostileText),
          _csrf: fc.constant(interaction.csrf),
        },
        nearMiss: {
          email: fc.constantFrom("alice@example.com\u0000", "\u0000", "alice@example.com\r\nBcc: bob@example.com", "alice@example.com\t", "a".repeat(321)),
          password: fc.constantFrom("", "\u0000".repeat(8), "x".repeat(1025)),
        },
        cookie: cookieFor(interaction),
        baseline: { cookie: interaction.cookie },
      }),
    );
    // Many reach the password check (401), others the CSRF check (403) or the schema (400).
    expect(outcomes(seen)).toEqual(expect.arrayContaining(["401", "403", "400"]));
  });

  it("consent and cancel forms: refuse without a 5xx or a database write", { timeout: 120_000 }, async () => {
    const interaction = await startInteraction("partner");
    // Confirm may carry the real token: the interaction is at its login prompt, so a valid confirm
    // only sends the browser back to the page. Cancel never does, since a real cancel is a
    // legitimate write.
    const confirmed = await fuzz(
      requestsTo(uidPath(interaction, "/confirm"), {
        methods: ["POST"],
        spec: { _csrf: fc.constant(interaction.csrf) },
        cookie: cookieFor(interaction),
        baseline: { cookie: interaction.cookie },
      }),
    );
    expect(outcomes(confirmed)).toEqual(expect.arrayContaining(["303 to sign-in", "403", "400"]));
    const cancelled = await fuzz(
      requestsTo(uidPath(interaction, "/abort"), {
        methods: ["POST"],
        spec: { _csrf: fc.oneof(tokenLike, hostileText) },
        cookie: cookieFor(interaction),
        baseline: { cookie: interaction.cookie },
      }),
    );
    expect(outcomes(cancelled)).toEqual(expect.arrayContaining(["403"]));
  });

  it("sign-in page and unknown paths: no 5xx, no database write", { timeout: 120_000 }, async () => {
    const interaction = await startInteraction("web");
    const resetToken = await issueResetToken();
    const anyPath = fc.oneof(
      uidPath(interaction, ""),
      hostileText.map((text) => `/${pct(text)}`),
      hostileText.map((text) => `/oidc/${pct(text)}`),
      fc.constantFrom(...BAD_PERCENT).map((broken) => `/interaction/${broken}/login`),
      fc.constantFrom(...BAD_PERCENT).map((broken) => `/oidc/${broken}`),
      fc.constantFrom("/assets/idp.css", "/healthz", "/", "//evil.example", "/oidc", "/oidc/", "/reset", "/reset/", `/reset/${resetToken}`, "/reset/%2e%2e"),
      hostileText.map((text) => `/reset/${pct(text)}`),
    );
    const seen = await fuzz(
      requestsTo(anyPath, {
        methods: ["GET"],
        spec: {},
        optional: { next: fc.constant("https://evil.example/"), redirect: fc.constant("//evil.example") },
        cookie: cookieFor(interaction),
        baseline: { cookie: interaction.cookie },
      }),
    );
    expect(outcomes(seen)).toEqual(expect.arrayContaining(["200", "400", "404"]));
  });
});
