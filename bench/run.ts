// `npm run bench`: our IdP on PostgreSQL against a bare oidc-provider, side by side in one run.
// Start-up time, the machine's signing and argon2 rates, then each scenario against each server
// (in alternating rounds, so background load falls on both alike); prints the table, writes
// BENCHMARKS.md, and profiles the IdP where a target is missed. Bounded: a watchdog ends the run,
// and children, databases and key directories are removed even on error.
import { spawn } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { settings } from "../idp/config.ts";
import { createDatabase, createPool } from "../idp/db/database.ts";
import { createPasswordHasher } from "../idp/accounts/passwords.ts";
import { createEmptyPostgresDatabase, serverUrl } from "../test/support/database.ts";
import { createTestOperator } from "../test/support/operator.ts";
import { backendsOf, cpuAccounting, cpuTime } from "./cpu.ts";
import { createHttpClient } from "./http.ts";
import { combine, runLoadRaw, type LoadResult, type RawLoad } from "./load.ts";
import { summariseProfile } from "./profile.ts";
import {
  checkTargets,
  generatedSection,
  median,
  peakRss,
  resultsTable,
  targetsTable,
  variantsTable,
  writeReport,
  type Results,
  type ScenarioName,
  type Variant,
} from "./report.ts";
import * as scenario from "./scenarios.ts";
import { killAllChildren, memoryOf, REPO_ROOT, sampleRss, startBareProvider, startIdp as startIdpWith, track, type Child } from "./servers.ts";
import { BENCH_CLIENTS, benchUser, SIGN_UP_PASSWORD, signUpEmail, TOTP_USER_PASSWORD, TOTP_USER_SECRET, totpUserEmail } from "./fixtures.ts";
import { loadCookieKeys } from "../idp/keys/cookie-keys.ts";
import { createSecretBox } from "../idp/keys/secret-box.ts";
import { sealContext, TOTP_SEED_INFO } from "../idp/accounts/second-factors.ts";
import { createSecondFactorStore } from "../idp/store/second-factors.ts";
import { CodeUsers } from "./code-users.ts";
import { startMailbox, type Mailbox } from "./mailbox.ts";
import { createPasskeys } from "../idp/accounts/passkeys.ts";
import { storesOver } from "../idp/store/stores.ts";
import { SoftwareAuthenticator } from "../test/support/software-authenticator.ts";
import { createUpstreamProviders, UPSTREAM_SECRET_INFO } from "../idp/federation/upstream-providers.ts";
import { createSealer } from "../idp/mail/seal.ts";
import { federatedLogin, federatedUserEmail, startBenchUpstream, type BenchUpstream } from "./upstream.ts";

const { values: args } = parseArgs({
  options: {
    connections: { type: "string", default: "16" },
    duration: { type: "string", default: "8" },
    warmup: { type: "string", default: "2" },
    rounds: { type: "string", default: "4" },
    "restart-runs": { type: "string", default: "5" },
    "first-start-runs": { type: "string", default: "3" },
    // People made beforehand for code_sign_in (more are made during it if they run short).
    "code-users": { type: "string", default: "3000" },
    // People with a password and an authenticator app, made beforehand for totp_sign_in.
    "totp-users": { type: "string", default: "3000" },
    "redis-url": { type: "string", default: "redis://127.0.0.1:6379" },
    "no-variants": { type: "boolean", default: false },
    "no-profile": { type: "boolean", default: false },
    output: { type: "string", default: "BENCHMARKS.md" },
    // A subset, e.g. `--scenarios discovery,jwks`: measured and printed only, no report written.
    scenarios: { type: "string" },
    // Extra Node flags for every start of our IdP, after the production ones (to try other settings).
    "idp-node-args": { type: "string", default: "" },
  },
});
const connections = Number(args.connections);
const warmupMs = Number(args.warmup) * 1000;
const durationMs = Number(args.duration) * 1000;
const rounds = Math.max(1, Number(args.rounds));
const extraIdpNodeArgs = args["idp-node-args"]!.split(/\s+/).filter(Boolean);
const startIdp = (env: Record<string, string>, nodeArgs: string[] = [], collect?: RegExp) => startIdpWith(env, [...extraIdpNodeArgs, ...nodeArgs], collect);
const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
const ALL_SCENARIOS = ["refresh_token", "client_credentials", "discovery", "jwks", "sign-in", "code_sign_in", "sign_up", "totp_sign_in", "passkey_sign_in", "federated_sign_in"] as const;
const chosen = args.scenarios?.split(",").map((name) => name.trim());
const unknown = chosen?.filter((name) => !(ALL_SCENARIOS as readonly string[]).includes(name)) ?? [];
if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(", ")}; choose from ${ALL_SCENARIOS.join(", ")}`);
const scenarioNames = chosen ? ALL_SCENARIOS.filter((name) => chosen.includes(name)) : ALL_SCENARIOS;

// Everything to undo, newest first.
const cleanups: (() => Promise<unknown>)[] = [];
async function cleanUp() {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch((error: unknown) => log(`cleanup failed: ${String(error)}`));
}
const WATCHDOG_MS = 30 * 60_000;
const watchdog = setTimeout(() => {
  log(`still running after ${WATCHDOG_MS / 60_000} minutes: stopping`);
  killAllChildren();
  void cleanUp().finally(() => process.exit(2));
}, WATCHDOG_MS);
watchdog.unref();
let interrupted = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    interrupted = true;
    log(`${signal}: stopping and cleaning up`);
    killAllChildren();
    void cleanUp().finally(() => process.exit(130));
  });
}

// Every rate limit the IdP has (whatever their number today), raised out of reach or turned off.
const limitSettings = Object.values(settings)
  .map((setting) => setting.env)
  .filter((env) => /_LIMIT_PER_/.test(env));
const limitsTo = (value: string) => Object.fromEntries(limitSettings.map((env) => [env, value]));
const baseEnv = { NODE_ENV: "production", GENERATE_KEYS: "true", LOG_LEVEL: "warn" };
// Mail goes to the bench's own SMTP server (bench/mailbox.ts); sign-in by code and open sign-up on,
// the sign-up form's minimum age off (a machine posts it at once). SMTP_URL is added when it listens.
const mailSettings = { SIGN_IN_METHODS: "password,email_code", SIGN_UP: "open", SIGN_UP_MIN_FORM_SECONDS: "0" };
// Set in main(): the mail server and the people code_sign_in signs in.
let mailbox: Mailbox;
let codeUsers: CodeUsers | undefined;
// The people totp_sign_in signs in (a password and an app; each code works once per 30 s).
let totpUsers: CodeUsers | undefined;
// Sign-ups need new addresses: numbered, with this run's own tag.
const runTag = Date.now().toString(36);
let signUps = 0;
// The people passkey_sign_in signs in, one synced passkey each (a counter that stays 0, so one
// passkey can sign in many times at once), made by a software authenticator.
let passkeyUsers: SoftwareAuthenticator[] = [];
// The upstream provider federated_sign_in signs in at (bench/upstream.ts), and its id on ours.
let upstream: BenchUpstream | undefined;
const UPSTREAM_ID = "bench-upstream";

/** A passkey as the browser on `issuer`'s pages uses it: the assertion names that page's origin. */
const passkeyOn = (index: number, issuer: string): SoftwareAuthenticator =>
  Object.assign(Object.create(SoftwareAuthenticator.prototype) as SoftwareAuthenticator, passkeyUsers[index % passkeyUsers.length]!, { origin: new URL(issuer).origin });

async function freshDatabase() {
  const database = await createEmptyPostgresDatabase();
  cleanups.push(() => database.drop());
  return database;
}
async function freshKeysDir() {
  const dir = await mkdtemp(path.join(os.tmpdir(), "idp-bench-keys-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
async function started(child: Promise<Child>): Promise<Child> {
  const running = await child;
  cleanups.push(() => running.stop());
  return running;
}

function reachable(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port || 6379), timeout: 1000 });
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
    socket.once("timeout", () => (socket.destroy(), resolve(false)));
  });
}

type MicroRun = RawLoad & { syncRate?: number; params?: Results["argon2"]["params"] };

/** bench/micro.ts in a process of its own: the signing or argon2id rate of this machine. */
function micro(mode: "sign" | "argon2", keysDir: string, warmup: number, duration: number, syncMs = 0): Promise<MicroRun> {
  return new Promise((resolve, reject) => {
    const args = ["--keys-dir", keysDir, "--connections", String(connections), "--warmup", String(warmup), "--duration", String(duration), "--sync-ms", String(syncMs)];
    const child = track(spawn(process.execPath, ["bench/micro.ts", mode, ...args], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "inherit"] }));
    const timer = setTimeout(() => child.kill("SIGKILL"), warmup + duration + 60_000);
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.once("exit", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(JSON.parse(out) as MicroRun);
      else reject(new Error(`bench/micro.ts ${mode} exited with ${code}`));
    });
  });
}

type Server = {
  variant: Variant;
  label: string;
  child: Child;
  target: scenario.Target;
  chains: scenario.Chain[];
  /** Ours: the database its PostgreSQL backends serve (their CPU is counted too). */
  databaseName?: string;
};

/** One run of a scenario against one server. */
async function measureOnce(server: Server, name: ScenarioName, warmup: number, duration: number): Promise<RawLoad> {
  const http = createHttpClient(connections, { ca: upstream?.ca });
  try {
    const { target } = server;
    const operation = (index: number): (() => Promise<void>) => {
      switch (name) {
        case "discovery":
          return scenario.discovery(http, target);
        case "jwks":
          return scenario.jwks(http, target);
        case "client_credentials":
          return scenario.clientCredentials(http, target);
        case "refresh_token":
          return scenario.refresh(http, target, server.chains[index]!);
        case "sign-in": {
          const user = benchUser(index);
          return async () => void (await scenario.signIn(http, target, { email: user.email, password: user.password }));
        }
        case "code_sign_in": {
          // The bare provider's baseline: its sign-in (no mail, no check) and the same code exchange.
          if (target.kind === "bare") return () => scenario.signInAndExchange(http, target, { login: `bench-user-${index}` });
          return async () => scenario.codeSignIn(http, target, mailbox, await codeUsers!.take());
        }
        case "totp_sign_in": {
          // The bare provider's baseline, as for code_sign_in: its sign-in and the same code exchange.
          if (target.kind === "bare") return () => scenario.signInAndExchange(http, target, { login: `bench-user-${index}` });
          return async () => scenario.totpSignIn(http, target, await totpUsers!.take(), TOTP_USER_PASSWORD, TOTP_USER_SECRET);
        }
        case "passkey_sign_in": {
          // The bare provider's baseline, as for code_sign_in: its sign-in and the same code exchange.
          if (target.kind === "bare") return () => scenario.signInAndExchange(http, target, { login: `bench-user-${index}` });
          const authenticator = passkeyOn(index, target.issuer);
          return () => scenario.passkeySignIn(http, target, authenticator);
        }
        case "federated_sign_in": {
          // The bare provider's baseline, as for code_sign_in: its sign-in and the same code exchange.
          if (target.kind === "bare") return () => scenario.signInAndExchange(http, target, { login: `bench-user-${index}` });
          return () => scenario.federatedSignIn(http, target, UPSTREAM_ID, federatedLogin(index));
        }
        case "sign_up":
          if (target.kind === "bare") throw new Error("the bare provider has no sign-up");
          return () => scenario.signUp(http, target, mailbox, signUpEmail(runTag, signUps++), SIGN_UP_PASSWORD);
      }
    };
    const serverCpu = cpuTime(() => [server.child.pid]);
    const databaseCpu = server.databaseName ? cpuTime(() => backendsOf(server.databaseName!)) : undefined;
    const run = await runLoadRaw({ connections, warmupMs: warmup, durationMs: duration, operation });
    return { ...run, serverCpuMs: serverCpu.stop(), databaseCpuMs: databaseCpu?.stop() };
  } finally {
    http.close();
  }
}

function logResult(name: string, label: string, result: LoadResult) {
  const cpu =
    result.serverCpuMsPerOp === undefined
      ? ""
      : `  CPU/op ${result.serverCpuMsPerOp.toFixed(2)} ms` + (result.databaseCpuMsPerOp === undefined ? "" : ` + PostgreSQL ${result.databaseCpuMsPerOp.toFixed(2)} ms`);
  log(
    `${name.padEnd(18)} ${label.padEnd(26)} ${result.rate.toFixed(1).padStart(8)}/s  p50 ${result.p50Ms.toFixed(1)} ms  p99 ${result.p99Ms.toFixed(1)} ms${cpu}` +
      (result.errors ? `  ${result.errors} errors, first: ${result.firstError}` : ""),
  );
}

/** Something measured in rounds: a server running a scenario, or argon2id alone. */
type Contender = { key: Variant | "argon2" | "sign"; label: string; run: (warmup: number, duration: number) => Promise<RawLoad> };

const contender = (server: Server, name: ScenarioName): Contender => ({
  key: server.variant,
  label: server.label,
  run: (warmup, duration) => measureOnce(server, name, warmup, duration),
});

/**
 * Every contender in rounds that alternate their order (ABBA...), so work elsewhere on the machine
 * falls on all of them alike; each one's windows are then combined.
 */
async function measureAll(contenders: Contender[], name: string): Promise<Partial<Record<Contender["key"], LoadResult>>> {
  const runs = new Map<Contender, RawLoad[]>(contenders.map((entry) => [entry, []]));
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? contenders : [...contenders].reverse();
    // The first round warms each server up; later ones only refill the connections.
    for (const entry of order) runs.get(entry)!.push(await entry.run(round === 0 ? warmupMs : Math.min(warmupMs, 1000), durationMs / rounds));
  }
  const results: Partial<Record<Contender["key"], LoadResult>> = {};
  for (const entry of contenders) {
    results[entry.key] = combine(runs.get(entry)!);
    logResult(name, entry.label, results[entry.key]!);
  }
  return results;
}

/** A refresh-token chain per virtual client, each started by a real sign-in and code exchange. */
async function startChains(target: scenario.Target, variant: Variant): Promise<scenario.Chain[]> {
  const http = createHttpClient(connections);
  try {
    const chains: scenario.Chain[] = [];
    for (let index = 0; index < connections; index++) {
      const user = benchUser(index);
      const credentials = variant === "bare" ? { login: `bench-user-${index}` } : { email: user.email, password: user.password };
      chains.push(await scenario.newChain(http, target, credentials));
    }
    return chains;
  } finally {
    http.close();
  }
}

/** V8 and libuv settings tried when resident memory misses its target (a diagnostic, not a recommendation by itself). */
const MEMORY_CAPS = { nodeArgs: ["--max-semi-space-size=1", "--max-old-space-size=64"], env: { UV_THREADPOOL_SIZE: "2" } };

/**
 * Our IdP (as configured) freshly started with --trace-gc, each scenario for a short while: its
 * peak resident memory and the live heap after each full collection; with `caps`, also V8's heap
 * and libuv's thread pool held small.
 */
async function memoryRun(server: Server, env: Record<string, string>, caps: boolean): Promise<Results["memoryRuns"][number]> {
  const child = await started(
    startIdp(caps ? { ...env, ...MEMORY_CAPS.env } : env, ["--trace-gc", ...(caps ? MEMORY_CAPS.nodeArgs : [])], /Mark-Compact/),
  );
  const scenarios = {} as Results["memoryRuns"][number]["scenarios"];
  const target = { ...server.target, issuer: child.issuer };
  for (const name of scenarioNames) {
    const peak = sampleRss(child.pid);
    const run = await measureOnce({ ...server, child, target }, name, 1000, Math.min(durationMs, 4000));
    scenarios[name] = { rss: peak.stop().rss, rate: combine([run]).rate, errors: run.errors };
  }
  await child.stop();
  // "[pid:0x..]  1993 ms: Mark-Compact 43.6 (103.4) -> 30.4 (100.4) MB": live heap after it, and committed.
  const afterFullGc = child
    .collected()
    .map((line) => /Mark-Compact [\d.]+ \(([\d.]+)\) -> ([\d.]+) \(([\d.]+)\) MB/.exec(line))
    .filter((match) => match !== null)
    .map((match) => ({ committedBefore: Number(match[1]), live: Number(match[2]) }));
  const label = caps ? `${MEMORY_CAPS.nodeArgs.join(" ")}, ${Object.entries(MEMORY_CAPS.env).map(([name, value]) => `${name}=${value}`).join(" ")}` : "as configured";
  const result = {
    label,
    scenarios,
    liveHeapMb: afterFullGc.length ? Math.max(...afterFullGc.map((entry) => entry.live)) : undefined,
    committedHeapMb: afterFullGc.length ? Math.max(...afterFullGc.map((entry) => entry.committedBefore)) : undefined,
  };
  log(
    `memory (${label}): ${Object.entries(scenarios).map(([name, entry]) => `${name} ${(entry.rss / 1e6).toFixed(0)} MB at ${entry.rate.toFixed(0)}/s`).join(", ")}; ` +
      `live heap after full GCs at most ${result.liveHeapMb ?? "?"} MB (heap committed up to ${result.committedHeapMb ?? "?"} MB)`,
  );
  return result;
}

/** Prints the preloaded query counts (bench/count-queries.ts) and reads them back from the output. */
async function queriesSoFar(child: Child): Promise<Record<string, number> | undefined> {
  const printed = () => [...child.output().matchAll(/^bench-queries (.*)$/gm)];
  const seen = printed().length;
  process.kill(child.pid, "SIGUSR2");
  for (let waited = 0; waited < 5000; waited += 50) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const lines = printed();
    if (lines.length > seen) return JSON.parse(lines.at(-1)![1]!) as Record<string, number>;
  }
  return undefined;
}

/** One server, freshly started under `node --cpu-prof`, running one scenario (or only starting). */
async function profileRun(
  server: Server,
  name: ScenarioName | undefined,
  env: Record<string, string> | undefined,
  keysDir: string,
  serviceSecret: string,
): Promise<Results["profiles"][number] | undefined> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "idp-bench-profile-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const profiling = ["--cpu-prof", "--cpu-prof-dir", dir];
  const child =
    server.variant === "bare"
      ? await started(startBareProvider(keysDir, serviceSecret, profiling))
      : await started(startIdp(env!, ["--import", "./bench/count-queries.ts", ...profiling]));
  const duration = Math.min(durationMs, 5000);
  let queriesPerOperation: number | undefined;
  let queries: { statement: string; perOperation: number }[] | undefined;
  let rate: number | undefined;
  let errors = 0;
  if (name) {
    const target = { ...server.target, issuer: child.issuer };
    // The bare provider keeps its tokens in memory: a new process needs new chains.
    const chains = server.variant === "bare" && name === "refresh_token" ? await startChains(target, "bare") : server.chains;
    const before = server.variant === "bare" ? undefined : await queriesSoFar(child);
    const run = await measureOnce({ ...server, child, target, chains }, name, warmupMs, duration);
    const after = before === undefined ? undefined : await queriesSoFar(child);
    if (before && after && run.completed > 0) {
      queries = Object.entries(after)
        .map(([statement, count]) => ({ statement, perOperation: (count - (before[statement] ?? 0)) / run.completed }))
        .filter((entry) => entry.perOperation >= 0.05)
        .sort((a, b) => b.perOperation - a.perOperation);
      queriesPerOperation = queries.reduce((sum, entry) => sum + entry.perOperation, 0);
    }
    rate = combine([run]).rate;
    errors = run.errors;
    logResult(name, `${server.label} (profiled)`, combine([run]));
    if (run.errors) log(`${server.label} said, at the end:\n${child.output().slice(-2000)}`);
  }
  await child.stop();
  const file = (await readdir(dir)).find((entry) => entry.endsWith(".cpuprofile"));
  if (!file) {
    log(`no profile written for ${server.label}`);
    return undefined;
  }
  // Under load: the window only (start-up and warm-up left out). Start-up: all of it.
  const summary = await summariseProfile(path.join(dir, file), { top: 10, skipFirstMs: name ? child.readyMs + warmupMs : 0 });
  const title = name ? `${name}, ${server.label}` : `start-up to /readyz, ${server.label}`;
  log(
    `profile of ${title}: main thread busy ${summary.busyMs.toFixed(0)} of ${summary.spanMs.toFixed(0)} ms` +
      (queriesPerOperation === undefined ? "" : `, ${queriesPerOperation.toFixed(1)} queries per operation`) +
      `; ${summary.packages
        .slice(0, 5)
        .map((entry) => `${entry.name} ${(entry.share * 100).toFixed(0)}%`)
        .join(", ")}`,
  );
  return { title, summary, queriesPerOperation, queries, rate, errors };
}

async function main() {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  const postgres = (await admin.query<{ server_version: string }>("SHOW server_version")).rows[0]!.server_version;
  await admin.end();
  const cpus = os.cpus();
  const loadAtStart = os.loadavg()[0]! / cpus.length;
  if (loadAtStart > 0.5) log(`the machine is busy (load average ${os.loadavg()[0]!.toFixed(1)} on ${cpus.length} cores): expect noisy figures`);
  const mail = await startMailbox();
  mailbox = mail;
  cleanups.push(() => mail.stop());

  // 1. Start-up: first starts on empty databases, then restarts of one database with its keys.
  const firstStartMs: number[] = [];
  for (let run = 0; run < Number(args["first-start-runs"]); run++) {
    const database = await freshDatabase();
    const idp = await startIdp({ ...baseEnv, DATABASE_URL: database.url, KEYS_DIR: await freshKeysDir() });
    firstStartMs.push(idp.readyMs);
    await idp.stop();
  }
  const database = await freshDatabase();
  const keysDir = await freshKeysDir();
  if (scenarioNames.includes("federated_sign_in")) {
    const started = await startBenchUpstream();
    upstream = started;
    cleanups.push(() => started.stop());
  }
  const idpEnv = {
    ...baseEnv,
    ...mailSettings,
    SMTP_URL: mailbox.url,
    ...limitsTo("1000000000"),
    DATABASE_URL: database.url,
    KEYS_DIR: keysDir,
    // The upstream's self-signed certificate, trusted by our IdP (and only there).
    ...(upstream ? { NODE_EXTRA_CA_CERTS: upstream.caFile } : {}),
  };
  await (await startIdp(idpEnv)).stop(); // migrates and creates the keys
  const restartMs: number[] = [];
  for (let run = 0; run < Number(args["restart-runs"]); run++) {
    const idp = await startIdp(idpEnv);
    restartMs.push(idp.readyMs);
    await idp.stop();
  }
  log(`ready: first start ${firstStartMs.map((value) => value.toFixed(0)).join(", ")} ms; restart ${restartMs.map((value) => value.toFixed(0)).join(", ")} ms`);

  // 2. The machine's limits, with nothing else of ours running.
  const signRun = await micro("sign", keysDir, warmupMs, durationMs, 2000);
  const sign = { ...combine([signRun]), syncRate: signRun.syncRate! };
  log(`RS256 sign: ${sign.rate.toFixed(0)}/s (jose, ${connections} at a time), ${sign.syncRate.toFixed(0)}/s (node:crypto, one thread)`);
  const argon2Params = (await micro("argon2", keysDir, 0, 500)).params!;

  // 3. Users and clients, written the way `idp users add` and `idp clients add` write them.
  //    The people who sign in by code have no password; the pool stays open to make more if needed.
  const db = createDatabase(createPool(database.url, 4));
  cleanups.push(() => db.close());
  const seed = createTestOperator(db, { hasher: createPasswordHasher(argon2Params) });
  for (let index = 0; index < connections; index++) await seed.addUser({ ...benchUser(index), emailVerified: true });
  await seed.addClient({ ...BENCH_CLIENTS.web, public: true });
  const serviceSecret = (await seed.addClient({ ...BENCH_CLIENTS.service, public: false, service: true })).secret!;
  if (scenarioNames.includes("code_sign_in")) {
    codeUsers = await CodeUsers.make(Number(args["code-users"]), async (email) => void (await seed.users.create({ email, emailVerified: true, passwordHash: null })));
  }
  if (scenarioNames.includes("totp_sign_in")) {
    // As `idp users add` and setting up an app would leave them: one password hash for all (hashing
    // thousands would only slow the set-up), each app key sealed with the server's cookie keys.
    const passwordHash = await createPasswordHasher(argon2Params).hash(TOTP_USER_PASSWORD);
    const box = createSecretBox((await loadCookieKeys(keysDir))!, TOTP_SEED_INFO);
    const factors = createSecondFactorStore(db);
    totpUsers = await CodeUsers.make(
      Number(args["totp-users"]),
      async (email) => {
        const user = await seed.users.create({ email, emailVerified: true, passwordHash });
        const sealed = box.seal(TOTP_USER_SECRET, sealContext(user.id));
        await factors.beginTotp(user.id, sealed);
        await factors.confirmTotp(user.id, 0, sealed, new Date(0));
      },
      totpUserEmail,
    );
  }

  if (scenarioNames.includes("passkey_sign_in")) {
    // As signing up and adding a passkey on the account page leaves them: a person without a
    // password and one passkey, registered through idp/accounts/passkeys.ts (the origin in the
    // registration is any of ours: a passkey is bound to the relying party ID, 127.0.0.1).
    const origin = "http://127.0.0.1";
    const passkeys = createPasskeys({
      db,
      stores: (queryable) => storesOver(queryable, () => new Date()),
      settings: { rpId: "127.0.0.1", origin, rpName: "Bench" },
      now: () => new Date(),
    });
    for (let index = 0; index < connections; index++) {
      const person = await seed.users.create({ email: `bench-passkey-user-${index}@example.com`, emailVerified: true, passwordHash: null });
      const authenticator = new SoftwareAuthenticator(origin, { synced: true });
      const registered = await passkeys.register({ userId: person.id, response: authenticator.register(await passkeys.registrationOptions(person.id)), name: "Bench" });
      if (!registered.ok) throw new Error(`registering a bench passkey failed: ${JSON.stringify(registered)}`);
      passkeyUsers.push(authenticator);
    }
  }
  if (upstream) {
    // As `idp upstreams add bench-upstream --issuer ... --trust-email` leaves it, and a person on
    // ours with each upstream account's verified address: the first sign-in links them, the rest
    // find the link.
    const providers = createUpstreamProviders({
      db,
      stores: (queryable) => storesOver(queryable, () => new Date()),
      sealer: async () => createSealer((await loadCookieKeys(keysDir))!, UPSTREAM_SECRET_INFO),
      production: true,
      issuer: "http://127.0.0.1",
    });
    await providers.add({ id: UPSTREAM_ID, issuer: upstream.issuer, clientId: upstream.clientId, secret: upstream.clientSecret, name: "Bench Upstream", trustEmail: true });
    for (let index = 0; index < connections; index++) await seed.users.create({ email: federatedUserEmail(federatedLogin(index)), emailVerified: true, passwordHash: null });
  }

  // 4. The servers: ours as configured for production (limits counted in the database), the bare
  //    provider, and two variants of ours that show what the rate-limit counters cost.
  const variantEnv: [Variant, string, Record<string, string>][] = [["ours", "our IdP", idpEnv]];
  if (!args["no-variants"]) {
    if (await reachable(args["redis-url"]!)) variantEnv.push(["redis", "our IdP, counters in Redis", { ...idpEnv, REDIS_URL: args["redis-url"]! }]);
    else log(`no Redis at ${args["redis-url"]}: skipping that variant`);
    variantEnv.push(["limitsOff", "our IdP, limits off", { ...idpEnv, ...limitsTo("0") }]);
  }
  const servers: Server[] = [];
  for (const [variant, label, env] of variantEnv) {
    const child = await started(startIdp(env));
    servers.push({ variant, label, child, target: { kind: "ours", issuer: child.issuer, serviceSecret }, chains: [], databaseName: new URL(database.url).pathname.slice(1) });
  }
  const bareChild = await started(startBareProvider(keysDir, serviceSecret));
  servers.push({ variant: "bare", label: "bare oidc-provider", child: bareChild, target: { kind: "bare", issuer: bareChild.issuer, serviceSecret }, chains: [] });
  const ours = servers[0]!;
  const bare = servers.at(-1)!;
  const oursIdleAtStart = memoryOf(ours.child.pid);

  // A refresh-token chain per client on each server, each started by a real sign-in.
  for (const server of servers) server.chains = await startChains(server.target, server.variant);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const oursIdle = memoryOf(ours.child.pid);
  const bareIdle = memoryOf(bare.child.pid);

  // 5. The scenarios, with the resident memory of ours (as configured) and the bare provider.
  const cpu = cpuAccounting(() => servers.map((server) => server.child.pid), new URL(database.url).pathname.slice(1));
  const scenarios = {} as Results["scenarios"];
  const peaks = {} as Results["memory"]["peaks"];
  let argon2: LoadResult | undefined;
  let signUpArgon2: LoadResult | undefined;
  for (const name of scenarioNames) {
    const oursRss = sampleRss(ours.child.pid);
    const bareRss = sampleRss(bare.child.pid);
    if (name === "sign-in" || name === "sign_up") {
      // argon2id alone takes its turns with the sign-ins (one verification each) and the sign-ups
      // (one hash each, as costly), so both see the same machine.
      const argon2Alone: Contender = { key: "argon2", label: "argon2id alone", run: (warmup, duration) => micro("argon2", keysDir, warmup, duration) };
      const measured = await measureAll([...servers.filter((server) => server.variant !== "bare").map((server) => contender(server, name)), argon2Alone], name);
      if (name === "sign-in") argon2 = measured.argon2!;
      else signUpArgon2 = measured.argon2!;
      delete measured.argon2;
      scenarios[name] = measured;
    } else {
      // At the token endpoint, the signing ceiling takes its turns too.
      const signAlone: Contender = { key: "sign", label: "RS256 sign alone", run: (warmup, duration) => micro("sign", keysDir, warmup, duration) };
      scenarios[name] = await measureAll(
        [...servers.map((server) => contender(server, name)), ...(name === "refresh_token" || name === "client_credentials" ? [signAlone] : [])],
        name,
      );
    }
    const bareTakesPart = name !== "sign-in" && name !== "sign_up";
    peaks[name] = { ours: oursRss.stop(), bare: bareTakesPart ? bareRss.stop() : undefined };
    if (!bareTakesPart) bareRss.stop();
    const baseline = name === "sign-in" ? argon2 : name === "sign_up" ? signUpArgon2 : scenarios[name].bare;
    if (scenarios[name].ours && baseline) log(`${name}: ours / ${name === "sign-in" || name === "sign_up" ? "argon2id alone" : "bare"} = ${(scenarios[name].ours.rate / baseline.rate).toFixed(2)}×`);
  }
  if (codeUsers) {
    const { people, madeOnTheSpot } = codeUsers.counts();
    log(`code_sign_in signed in ${people} people by code` + (madeOnTheSpot ? `, ${madeOnTheSpot} of them made during the operations: raise --code-users` : ""));
  }
  const { received, withoutCode } = mailbox.counts();
  if (received) log(`the bench's SMTP server received ${received} mails` + (withoutCode ? `, ${withoutCode} without a code` : ""));
  const cpuShare = cpu.stop();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const memory: Results["memory"] = {
    oursIdleAtStart,
    oursIdle,
    bareIdle,
    peaks,
    oursHwm: memoryOf(ours.child.pid).hwm,
    oursAfter: memoryOf(ours.child.pid),
  };
  for (const server of servers) await server.child.stop();
  if (chosen) {
    for (const [name, peak] of Object.entries(peaks)) log(`peak VmRSS during ${name}: ours ${(peak.ours.rss / 1e6).toFixed(0)} MB (RssAnon ${(peak.ours.anon / 1e6).toFixed(0)} MB)`);
    // A subset is for finding out why: profile ours on each (unless --no-profile).
    if (!args["no-profile"]) {
      for (const name of scenarioNames) {
        const entry = await profileRun(ours, name, idpEnv, keysDir, serviceSecret);
        if (!entry) continue;
        for (const fn of entry.summary.functions.slice(0, 12)) log(`  ${(fn.share * 100).toFixed(1).padStart(5)}%  ${fn.name}  ${fn.where}`);
        for (const query of entry.queries ?? []) log(`  ${query.perOperation.toFixed(2)} x ${query.statement}`);
      }
    }
    log("a subset of the scenarios was measured: no report written");
    return;
  }

  const results: Results = {
    date: new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC",
    machine: {
      cpu: cpus[0]?.model.trim() ?? "unknown CPU",
      cores: cpus.length,
      memoryGiB: os.totalmem() / 1024 ** 3,
      node: process.version,
      postgres,
      platform: `${os.type()} ${os.release()} ${os.arch()}`,
    },
    settings: { connections, warmupSeconds: warmupMs / 1000, durationSeconds: durationMs / 1000, rounds, idpEnv: { ...baseEnv, ...mailSettings }, limitSettings },
    cpu: { ...cpuShare, loadAtStart },
    scenarios,
    sign,
    argon2: { ...argon2!, params: argon2Params },
    signUpArgon2: signUpArgon2!,
    memory,
    ready: { firstStartMs, restartMs },
    profiles: [],
    memoryRuns: [],
  };
  const checks = checkTargets(results);

  // 6. Where a target is missed, a CPU profile of the server doing just that, with its queries to
  //    PostgreSQL counted: ours as configured, ours with the limits off when that misses too, and
  //    the bare provider for comparison.
  if (!args["no-profile"]) {
    const profiled: { check: string; scenario?: ScenarioName }[] = [
      { check: "refresh_token vs bare", scenario: "refresh_token" },
      { check: "client_credentials vs bare", scenario: "client_credentials" },
      { check: "discovery vs bare", scenario: "discovery" },
      { check: "jwks vs bare", scenario: "jwks" },
      { check: "sign-ins vs argon2 alone", scenario: "sign-in" },
      { check: "ready on PostgreSQL (restart)" },
    ];
    for (const { check, scenario: name } of profiled) {
      const missed = checks.find((entry) => entry.name === check);
      if (missed?.pass !== false) continue;
      const profile = servers.filter(
        (server) =>
          server.variant === "ours" ||
          (name && server.variant === "limitsOff" && missed.limitsOffPass === false) ||
          (name && name !== "sign-in" && server.variant === "bare"),
      );
      for (const server of profile) {
        const entry = await profileRun(server, name, variantEnv.find(([variant]) => variant === server.variant)?.[2], keysDir, serviceSecret);
        if (entry) results.profiles.push(entry);
      }
    }
  }

  // 7. Where resident memory misses, how much of it is live data, and what holding V8 small does.
  if (!args["no-profile"] && checks.find((entry) => entry.name === "resident memory under load")?.pass === false) {
    for (const caps of [false, true]) results.memoryRuns.push(await memoryRun(servers[0]!, idpEnv, caps));
  }

  process.stdout.write(`\n${resultsTable(results)}\n\n${variantsTable(results)}\n\n${targetsTable(checks)}\n\n`);
  process.stdout.write(
    `memory: idle ${(memory.oursIdle.rss / 1e6).toFixed(0)} MB, peak ${(peakRss(memory) / 1e6).toFixed(0)} MB (bare ${(memory.bareIdle.rss / 1e6).toFixed(0)} MB idle); ` +
      `ready: restart ${median(restartMs).toFixed(0)} ms, first start ${median(firstStartMs).toFixed(0)} ms (medians); ` +
      `other processes used ${(cpuShare.others * 100).toFixed(0)}% of the machine while measuring\n`,
  );
  const output = path.resolve(REPO_ROOT, args.output);
  await writeReport(output, generatedSection(results, checks));
  log(`wrote ${output}`);
  const errors = Object.values(scenarios).reduce((sum, byVariant) => sum + Object.values(byVariant).reduce((total, result) => total + result.errors, 0), 0);
  if (errors > 0) {
    log(`${errors} requests failed: the figures are not trustworthy`);
    process.exitCode = 1;
  }
}

try {
  await main();
} catch (error) {
  // After an interrupt, what fails next is only the clean-up pulling things away: say nothing.
  if (!interrupted) log(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exitCode = 1;
} finally {
  killAllChildren();
  await cleanUp();
  clearTimeout(watchdog);
}
