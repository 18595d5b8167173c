// Turns the benchmark's measurements into the printed tables and the generated part of
// BENCHMARKS.md; the hand-written analysis outside the markers is kept as it is.
import { readFile, writeFile } from "node:fs/promises";
import type { CpuShare } from "./cpu.ts";
import type { LoadResult } from "./load.ts";
import type { ProfileSummary } from "./profile.ts";

export type ScenarioName = "discovery" | "jwks" | "client_credentials" | "refresh_token" | "sign-in" | "code_sign_in" | "sign_up" | "totp_sign_in" | "passkey_sign_in" | "federated_sign_in";
/** ours: as configured for production (limits counted in PostgreSQL); redis, limitsOff: diagnostics. */
export type Variant = "ours" | "redis" | "limitsOff" | "bare";

export type Results = {
  date: string;
  machine: { cpu: string; cores: number; memoryGiB: number; node: string; postgres: string; platform: string };
  settings: {
    connections: number;
    warmupSeconds: number;
    durationSeconds: number;
    rounds: number;
    idpEnv: Record<string, string>;
    limitSettings: string[];
  };
  cpu: CpuShare & { loadAtStart: number };
  /** Per scenario, each server's result; at the token endpoint also "sign", the ceiling measured in the same rounds. */
  scenarios: Record<ScenarioName, Partial<Record<Variant | "sign", LoadResult>>>;
  sign: LoadResult & { syncRate: number };
  argon2: LoadResult & { params: { memoryCost: number; timeCost: number; parallelism: number } };
  /** argon2id alone again, taking its turns in the sign-up rounds (a sign-up hashes one password). */
  signUpArgon2: LoadResult;
  memory: {
    oursIdleAtStart: Memory;
    oursIdle: Memory;
    bareIdle: Memory;
    /** Highest VmRSS and RssAnon seen (every 50 ms) while each scenario ran. */
    peaks: Record<ScenarioName, { ours: PeakMemory; bare?: PeakMemory }>;
    oursHwm: number;
    oursAfter: Memory;
  };
  ready: { firstStartMs: number[]; restartMs: number[] };
  /** Diagnostic runs of ours when resident memory misses: V8 as configured, and held small. */
  memoryRuns: {
    label: string;
    scenarios: Record<ScenarioName, { rss: number; rate: number; errors: number }>;
    liveHeapMb?: number;
    committedHeapMb?: number;
  }[];
  profiles: {
    title: string;
    summary: ProfileSummary;
    queriesPerOperation?: number;
    queries?: { statement: string; perOperation: number }[];
    rate?: number;
    errors?: number;
  }[];
};

type Memory = { rss: number; anon: number; hwm: number };
type PeakMemory = { rss: number; anon: number };

/** The highest resident memory of our IdP under any load. */
export const peakRss = (memory: Results["memory"]) => Math.max(...Object.values(memory.peaks).map((peak) => peak.ours.rss));

export type TargetCheck = { name: string; target: string; measured: string; pass: boolean; limitsOffPass?: boolean };

const BEGIN = "<!-- bench:begin (written by `npm run bench`; edit outside these markers) -->";
const END = "<!-- bench:end -->";

export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

const rate = (value: number) => (value >= 100 ? value.toFixed(0) : value.toFixed(1));
const ms = (value: number) => (Number.isNaN(value) ? "-" : value >= 100 ? value.toFixed(0) : value.toFixed(1));
const ratio = (value: number) => `${value.toFixed(2)}×`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;
const memoryCell = (memory: PeakMemory) => `${mb(memory.rss)} (${mb(memory.anon)})`;
const percent = (share: number) => `${(share * 100).toFixed(0)}%`;

const TOKEN_ENDPOINT = new Set<ScenarioName>(["client_credentials", "refresh_token"]);
/** Sign-ins whole flows measured against the bare provider's sign-in and the same code exchange (after code sign-in's row). */
const VS_BARE_SIGN_IN: [ScenarioName, string][] = [
  ["totp_sign_in", "password + TOTP sign-in (whole flow)"],
  ["passkey_sign_in", "passkey sign-in (whole flow)"],
  ["federated_sign_in", "sign-in through an upstream OIDC provider (whole flow)"],
];
const SERVER_SCENARIOS = ["refresh_token", "client_credentials", "discovery", "jwks"] as const;

export function checkTargets(results: Results): TargetCheck[] {
  const s = results.scenarios;
  const vsBare = (name: ScenarioName, minimum: number): TargetCheck => {
    const value = s[name].ours!.rate / s[name].bare!.rate;
    const off = s[name].limitsOff;
    return {
      name: `${name} vs bare`,
      target: `≥ ${minimum}× bare`,
      measured: ratio(value),
      pass: value >= minimum,
      limitsOffPass: off ? off.rate / s[name].bare!.rate >= minimum : undefined,
    };
  };
  const signIns = s["sign-in"].ours!.rate / results.argon2.rate;
  const signInsOff = s["sign-in"].limitsOff && s["sign-in"].limitsOff.rate / results.argon2.rate;
  const firstStart = median(results.ready.firstStartMs);
  const restart = median(results.ready.restartMs);
  return [
    vsBare("refresh_token", 0.7),
    vsBare("client_credentials", 0.9),
    vsBare("discovery", 0.9),
    vsBare("jwks", 0.9),
    {
      name: "sign-ins vs argon2 alone",
      target: "≥ 0.8× the argon2id rate",
      measured: ratio(signIns),
      pass: signIns >= 0.8,
      limitsOffPass: signInsOff === undefined ? undefined : signInsOff >= 0.8,
    },
    { name: "resident memory under load", target: "< 150 MB", measured: mb(peakRss(results.memory)), pass: peakRss(results.memory) < 150e6 },
    { name: "ready on PostgreSQL (restart)", target: "< 2 s", measured: `${(restart / 1000).toFixed(2)} s`, pass: restart < 2000 },
    { name: "ready on PostgreSQL (first start)", target: "< 2 s", measured: `${(firstStart / 1000).toFixed(2)} s`, pass: firstStart < 2000 },
  ];
}

function table(header: string[], rows: string[][]): string {
  return [header, header.map(() => "---"), ...rows].map((cells) => `| ${cells.join(" | ")} |`).join("\n");
}

/** A server's CPU per operation: its process, plus its PostgreSQL backends when it has any. */
function cpuCell(result: LoadResult): string {
  if (result.serverCpuMsPerOp === undefined) return "-";
  const server = result.serverCpuMsPerOp.toFixed(2);
  return result.databaseCpuMsPerOp === undefined ? server : `${server} + ${result.databaseCpuMsPerOp.toFixed(2)} PostgreSQL`;
}

export function resultsTable(results: Results): string {
  const s = results.scenarios;
  const rows: string[][] = [];
  for (const name of SERVER_SCENARIOS) {
    const ours = s[name].ours!;
    const bare = s[name].bare!;
    const ceiling = s[name].sign?.rate ?? results.sign.rate;
    rows.push([
      name,
      rate(ours.rate),
      `${ms(ours.p50Ms)} / ${ms(ours.p99Ms)}`,
      rate(bare.rate),
      `${ms(bare.p50Ms)} / ${ms(bare.p99Ms)}`,
      ratio(ours.rate / bare.rate),
      TOKEN_ENDPOINT.has(name) ? `${ratio(ours.rate / ceiling)} (bare ${ratio(bare.rate / ceiling)})` : "-",
      `${cpuCell(ours)} / ${cpuCell(bare)}`,
      `${ours.errors} / ${bare.errors}`,
    ]);
  }
  const signIn = s["sign-in"].ours!;
  rows.push([
    "password sign-in (whole flow)",
    rate(signIn.rate),
    `${ms(signIn.p50Ms)} / ${ms(signIn.p99Ms)}`,
    `argon2id alone: ${rate(results.argon2.rate)}`,
    `${ms(results.argon2.p50Ms)} / ${ms(results.argon2.p99Ms)}`,
    `${ratio(signIn.rate / results.argon2.rate)} of argon2`,
    "-",
    `${cpuCell(signIn)} / -`,
    `${signIn.errors} / -`,
  ]);
  const codeSignIn = s.code_sign_in.ours!;
  const bareSignIn = s.code_sign_in.bare!;
  rows.push([
    "code sign-in by mail (whole flow)",
    rate(codeSignIn.rate),
    `${ms(codeSignIn.p50Ms)} / ${ms(codeSignIn.p99Ms)}`,
    `bare sign-in + exchange: ${rate(bareSignIn.rate)}`,
    `${ms(bareSignIn.p50Ms)} / ${ms(bareSignIn.p99Ms)}`,
    `${ratio(codeSignIn.rate / bareSignIn.rate)} of bare sign-in`,
    "-",
    `${cpuCell(codeSignIn)} / ${cpuCell(bareSignIn)}`,
    `${codeSignIn.errors} / ${bareSignIn.errors}`,
  ]);
  // Against the bare provider's sign-in and exchange: a report of an older run has no such rows.
  for (const [name, title] of VS_BARE_SIGN_IN) {
    const ours = s[name]?.ours;
    const bare = s[name]?.bare;
    if (!ours || !bare) continue;
    rows.push([
      title,
      rate(ours.rate),
      `${ms(ours.p50Ms)} / ${ms(ours.p99Ms)}`,
      `bare sign-in + exchange: ${rate(bare.rate)}`,
      `${ms(bare.p50Ms)} / ${ms(bare.p99Ms)}`,
      `${ratio(ours.rate / bare.rate)} of bare sign-in`,
      "-",
      `${cpuCell(ours)} / ${cpuCell(bare)}`,
      `${ours.errors} / ${bare.errors}`,
    ]);
  }
  const signUp = s.sign_up.ours!;
  rows.push([
    "sign-up with a code by mail (whole flow)",
    rate(signUp.rate),
    `${ms(signUp.p50Ms)} / ${ms(signUp.p99Ms)}`,
    `argon2id alone: ${rate(results.signUpArgon2.rate)}`,
    `${ms(results.signUpArgon2.p50Ms)} / ${ms(results.signUpArgon2.p99Ms)}`,
    `${ratio(signUp.rate / results.signUpArgon2.rate)} of argon2`,
    "-",
    `${cpuCell(signUp)} / -`,
    `${signUp.errors} / -`,
  ]);
  for (const name of ["refresh_token", "client_credentials"] as const) {
    const sign = s[name].sign;
    if (sign) rows.push([`RS256 sign alone (the ceiling, in the ${name} rounds)`, "-", "-", rate(sign.rate), `${ms(sign.p50Ms)} / ${ms(sign.p99Ms)}`, "-", "1.00×", "-", `${sign.errors}`]);
  }
  return table(
    ["scenario", "ours req/s", "ours p50 / p99 ms", "bare req/s", "bare p50 / p99 ms", "ours / bare", "÷ signing ceiling", "CPU ms per operation (ours / bare)", "errors (ours / bare)"],
    rows,
  );
}

/** Ours with the rate-limit counters in PostgreSQL (as configured), in Redis, and off. */
export function variantsTable(results: Results): string {
  const s = results.scenarios;
  const cell = (result: LoadResult | undefined, base: LoadResult | undefined, errors = true) =>
    result
      ? `${rate(result.rate)} (p50 ${ms(result.p50Ms)} ms${base ? `, ${ratio(result.rate / base.rate)}` : ""})${errors && result.errors ? `, ${result.errors} errors` : ""}`
      : "-";
  const rows: string[][] = SERVER_SCENARIOS.map((name) => [
    name,
    cell(s[name].ours, s[name].bare),
    cell(s[name].redis, s[name].bare),
    cell(s[name].limitsOff, s[name].bare),
    cell(s[name].bare, undefined),
  ]);
  const argon2 = { ...results.argon2 };
  rows.push(["password sign-in", cell(s["sign-in"].ours, argon2), cell(s["sign-in"].redis, argon2), cell(s["sign-in"].limitsOff, argon2), "(÷ argon2id alone)"]);
  const code = s.code_sign_in;
  rows.push(["code sign-in by mail", cell(code.ours, code.bare), cell(code.redis, code.bare), cell(code.limitsOff, code.bare), `${cell(code.bare, undefined)} (its sign-in + exchange)`]);
  for (const [name, title] of VS_BARE_SIGN_IN) {
    const byServer = s[name];
    if (byServer) rows.push([title.replace(" (whole flow)", ""), cell(byServer.ours, byServer.bare), cell(byServer.redis, byServer.bare), cell(byServer.limitsOff, byServer.bare), `${cell(byServer.bare, undefined)} (its sign-in + exchange)`]);
  }
  const signUpArgon2 = results.signUpArgon2;
  rows.push(["sign-up", cell(s.sign_up.ours, signUpArgon2), cell(s.sign_up.redis, signUpArgon2), cell(s.sign_up.limitsOff, signUpArgon2), "(÷ argon2id alone)"]);
  return table(["scenario (req/s, ratio to bare)", "ours: counters in PostgreSQL", "ours: counters in Redis", "ours: limits off", "bare oidc-provider"], rows);
}

export function targetsTable(checks: TargetCheck[]): string {
  return table(
    ["target", "wanted", "measured", "result", "with limits off"],
    checks.map((check) => [
      check.name,
      check.target,
      check.measured,
      check.pass ? "pass" : "**miss**",
      check.limitsOffPass === undefined ? "" : check.limitsOffPass ? "pass" : "miss",
    ]),
  );
}

function memoryRunsSection(results: Results): string[] {
  if (results.memoryRuns.length === 0) return [];
  const [first] = results.memoryRuns;
  const names = Object.keys(first!.scenarios) as ScenarioName[];
  return [
    "Where that misses: our IdP started afresh with `--trace-gc`, each scenario for a few seconds, once as configured and once with V8's heap " +
      "and libuv's thread pool held small (peak VmRSS, and the rate reached meanwhile):",
    "",
    table(
      ["scenario", ...results.memoryRuns.map((run) => `\`${run.label}\``)],
      [
        ...names.map((name) => [
          name,
          ...results.memoryRuns.map((run) => {
            const entry = run.scenarios[name];
            return `${mb(entry.rss)} at ${rate(entry.rate)}/s${entry.errors ? ` (${entry.errors} errors)` : ""}`;
          }),
        ]),
        ["largest live heap after a full GC", ...results.memoryRuns.map((run) => (run.liveHeapMb === undefined ? "-" : `${run.liveHeapMb} MB`))],
        ["largest heap committed before a full GC", ...results.memoryRuns.map((run) => (run.committedHeapMb === undefined ? "-" : `${run.committedHeapMb} MB`))],
      ],
    ),
    "",
  ];
}

export function generatedSection(results: Results, checks: TargetCheck[]): string {
  const { machine, settings, memory, ready, cpu } = results;
  const argon2 = results.argon2.params;
  const env = Object.entries(settings.idpEnv)
    .map(([name, value]) => `${name}=${value}`)
    .join(" ");
  const parts = [
    BEGIN,
    "",
    `Measured ${results.date} on ${machine.cpu} × ${machine.cores} cores, ${machine.memoryGiB.toFixed(0)} GiB RAM, ${machine.platform}, ` +
      `Node ${machine.node}, PostgreSQL ${machine.postgres} on the same machine.`,
    "",
    `Each scenario: ${settings.connections} concurrent keep-alive clients on 127.0.0.1, ${settings.durationSeconds} s measured per server ` +
      `in ${settings.rounds} rounds that alternate the servers' order (each round after a warm-up: ${settings.warmupSeconds} s the first time); ` +
      "rates count the operations that completed successfully inside the measured windows. The load generator runs on the same cores as the servers. " +
      `While measuring, the machine was ${percent(cpu.machineBusy)} busy: the benchmark (generator, servers, their PostgreSQL backends) ` +
      `${percent(cpu.benchmark)}, other processes ${percent(cpu.others)}` +
      (cpu.others > 0.1 ? " (other work on the machine took CPU from the servers: absolute rates are low and noisy; ratios less so)" : "") +
      `; 1-minute load average per core at the start ${cpu.loadAtStart.toFixed(2)}.`,
    "",
    "### Results",
    "",
    resultsTable(results),
    "",
    `The signing ceiling is jose's RS256 CompactSign (what oidc-provider calls) with the IdP's 2048-bit key, ${settings.connections} at a time ` +
      "in a process of its own, taking its turns in the token-endpoint rounds (the ratio column divides by that); measured alone before the servers started: " +
      `${rate(results.sign.rate)}/s, and node:crypto's synchronous sign on one thread ${rate(results.sign.syncRate)}/s. ` +
      "A refresh signs one ID token, a client_credentials grant one JWT access token. " +
      `argon2id alone: ${rate(results.argon2.rate)} verifications/s (m=${argon2.memoryCost} KiB, t=${argon2.timeCost}, p=${argon2.parallelism}, ` +
      `${settings.connections} at a time, libuv's default 4 threads), in a process of its own taking its turns in the sign-in rounds ` +
      `(and again in the sign-up rounds: ${rate(results.signUpArgon2.rate)}/s). ` +
      "CPU per operation: the server process's CPU time (every thread: signing and argon2 run on libuv's pool) over its runs, divided by the operations it completed, " +
      "and for ours also the CPU time of the PostgreSQL backends serving its database. With the load generator, both servers and PostgreSQL on the same cores, " +
      "these costs, more than any waiting, decide the rates.",
    "",
    SIGN_IN_FLOWS,
    "",
    "### What the rate-limit counters cost",
    "",
    "The same IdP and database, three ways: as configured by default (counters in PostgreSQL, the limits far out of reach), " +
      "with REDIS_URL set (counters in Redis), and with every limit 0 (off: nothing counted).",
    "",
    variantsTable(results),
    "",
    "### Memory and start-up",
    "",
    "VmRSS from /proc/<pid>/status, with its private part (RssAnon) in brackets; the rest is mostly the node binary's own pages, shared with every Node process.",
    "",
    table(
      ["", "our IdP", "bare oidc-provider"],
      [
        ["right after start", memoryCell(memory.oursIdleAtStart), "-"],
        ["idle, after the set-up sign-ins", memoryCell(memory.oursIdle), memoryCell(memory.bareIdle)],
        ...Object.entries(memory.peaks).map(([name, peak]) => [`peak during ${name}`, memoryCell(peak.ours), peak.bare ? memoryCell(peak.bare) : "-"]),
        ["kernel high-water mark (VmHWM) after the load", mb(memory.oursHwm), "-"],
        ["1 s after the load", memoryCell(memory.oursAfter), "-"],
      ],
    ),
    "",
    ...memoryRunsSection(results),
    "Process start to `/readyz` answering 200 on PostgreSQL, median: restart (migrated database, existing keys) " +
      `${(median(ready.restartMs) / 1000).toFixed(2)} s over ${ready.restartMs.length} runs (${ready.restartMs.map((value) => value.toFixed(0)).join(", ")} ms); ` +
      `first start (empty database: every migration, new signing and cookie keys) ${(median(ready.firstStartMs) / 1000).toFixed(2)} s ` +
      `over ${ready.firstStartMs.length} runs (${ready.firstStartMs.map((value) => value.toFixed(0)).join(", ")} ms).`,
    "",
    "### Targets",
    "",
    targetsTable(checks),
    "",
    "### How it ran",
    "",
    `Our IdP: \`node idp/cli/bin.ts serve\` as a child process with ${env}, a fresh database on the PostgreSQL server ` +
      "(dropped at the end) and a fresh KEYS_DIR, DATABASE_POOL_MAX at its default. " +
      `Every rate limit (${settings.limitSettings.map((name) => `\`${name}\``).join(", ")}) is set to 1000000000: counted as in production, ` +
      "in the database since REDIS_URL is unset, but never reached. " +
      "The bare provider: `bench/bare-provider.ts`, oidc-provider with its in-memory adapter and development login pages, the same signing key, " +
      "clients, scopes, claims, PKCE rule, refresh-token rotation, service-token resource and lifetimes, served by node:http. " +
      "Refresh chains: one per client, each started by a real sign-in and code exchange; every request presents the live token and continues " +
      "with the rotated one. Sign-ins: a fresh cookie jar each time: authorization request, login page, form post with its CSRF token, " +
      "redirects, until the redirect URI with a code. " +
      "Mail: SMTP_URL points at an SMTP server in the bench process (smtp-server: STARTTLS offered, AUTH required), which parses each mail's text " +
      "and hands its 6-digit code to the client waiting for that address; the codes are read from the mail, never from the database. " +
      "Code sign-ins: a fresh cookie jar each time: authorization request, sign-in page, \"Email me a sign-in code\", the code from the mail " +
      "posted on the code page, redirects, code exchange; each by a person without a password, none of them twice within the 60-second resend " +
      "cooldown. Their baseline is the bare provider's sign-in with the same code exchange: the same protocol steps without our pages, " +
      "accounts, codes or mail, so the ratio is what signing in by code costs on top of the protocol. " +
      "Sign-ups: a new address each time: authorization request, sign-in page, \"Create an account\", the email, the code from the mail, " +
      "a password, redirects (signed in), code exchange. A sign-up hashes one password, so, like the password sign-in, it is compared " +
      "with argon2id alone taking its turns in the same rounds.",
  ];
  if (results.profiles.length) {
    parts.push(
      "",
      "### Profiles of missed targets",
      "",
      "`node --cpu-prof` on a fresh child running the scenario alone (start-up and warm-up left out); on ours, " +
        "`--import ./bench/count-queries.ts` also counts the queries its pg clients send. " +
        "\"Main thread busy\" is the share of the window the JavaScript thread was not idle: far below 100% means the IdP waits (on PostgreSQL).",
      "",
    );
    for (const { title, summary, queriesPerOperation, queries, rate: profiledRate, errors } of results.profiles) {
      parts.push(
        `**${title}**: main thread busy ${summary.busyMs.toFixed(0)} of ${summary.spanMs.toFixed(0)} ms (${percent(summary.busyMs / summary.spanMs)})` +
          (profiledRate === undefined ? "" : `; ${rate(profiledRate)}/s while profiled${errors ? ` (${errors} errors)` : ""}`) +
          (queriesPerOperation === undefined ? "." : `; ${queriesPerOperation.toFixed(1)} PostgreSQL queries (round trips) per operation.`),
        "",
        table(
          ["self time by package", "share"],
          summary.packages.slice(0, 8).map((entry) => [entry.name, percent(entry.share)]),
        ),
        "",
        table(
          ["top functions by self time", "where", "share"],
          summary.functions.slice(0, 8).map((entry) => [`\`${entry.name}\``, entry.where, `${(entry.share * 100).toFixed(1)}%`]),
        ),
        "",
      );
      if (queries?.length) {
        parts.push(
          table(
            ["queries per operation", "statement (start)"],
            queries.map((entry) => [entry.perOperation.toFixed(2), `\`${entry.statement.replace(/\|/g, "\\|")}\``]),
          ),
          "",
        );
      }
    }
  }
  parts.push(END);
  return parts.join("\n");
}

/** How the sign-in flows compared with the bare provider's sign-in are driven (the same words in the preface). */
const SIGN_IN_FLOWS =
  "The sign-ins by code, by password and authenticator app, by passkey and through an upstream provider are each compared with the bare provider's " +
  "sign-in through its development login page and the same code exchange, in the same rounds. The passkey sign-in is the sign-in page's script done " +
  "from Node: the options (a challenge for the interaction), an ES256 assertion by a software authenticator (node:crypto), the form posted; one synced " +
  "passkey (its counter stays 0) per client, registered beforehand through the account code. The upstream sign-in starts at \"Continue with\" on our " +
  "sign-in page and goes through a second bare oidc-provider in the bench process (HTTPS with a throwaway self-signed certificate our IdP trusts through " +
  "NODE_EXTRA_CA_CERTS, as production speaks only https to upstreams; in-memory accounts, its development login and consent pages), back to our " +
  "callback, where our IdP exchanges the upstream's code and checks its ID token; the upstream is registered as `idp upstreams add --trust-email` would, " +
  "and each of its accounts has a person on ours with the same verified address (linked at the first sign-in, found by the link after). " +
  "The upstream's work and the TLS are part of that flow: it runs in the bench process, not counted in our CPU per operation.";

const PREFACE = `# Benchmarks

\`npm run bench\` measures our IdP against a bare oidc-provider in the same run and prints ratios
(it is not part of \`npm test\`). Each sign-in method has a scenario, compared with what bounds it in
the same rounds: the password sign-in and the sign-up (each runs argon2id once: a verification, a
hash) with argon2id alone; the sign-ins by an emailed code (no argon2id), by password and
authenticator app (\`totp_sign_in\`), by passkey (\`passkey_sign_in\`, a software authenticator in
Node) and through an upstream OpenID Connect provider (\`federated_sign_in\`, a second bare
oidc-provider over HTTPS in the bench process, registered with \`--trust-email\`) with the bare
provider's sign-in and the same code exchange. Codes are read from the mails, which go to an SMTP
server in the bench process. It needs PostgreSQL at \`TEST_DATABASE_URL\` (default
\`postgres://postgres@127.0.0.1:5432/postgres\`), where it creates databases and drops them at the end,
and uses Redis at \`--redis-url\` (default \`redis://127.0.0.1:6379\`) for one diagnostic variant when it is there.
Options: \`npm run bench -- --connections 16 --duration 8 --warmup 2 --rounds 4 --no-variants --no-profile --code-users 3000 --output BENCHMARKS.md\`.
It took about nine minutes before the code sign-in and sign-up scenarios, which add about two more (estimated from a subset run), and cleans up after itself, also when it fails or is interrupted.

`;

/** Replaces the generated section of the file (or writes the file), keeping everything else. */
export async function writeReport(file: string, section: string): Promise<void> {
  const existing = await readFile(file, "utf8").catch(() => undefined);
  const begin = existing?.indexOf(BEGIN) ?? -1;
  const end = existing?.indexOf(END) ?? -1;
  const text =
    existing && begin >= 0 && end > begin
      ? existing.slice(0, begin) + section + existing.slice(end + END.length)
      : `${PREFACE}${section}\n\n## Analysis\n\n(Written by hand after a run: why each missed target is missed, and what would change it.)\n`;
  await writeFile(file, text);
}
