// Child processes for the benchmark: our IdP (`idp serve`) and the bare provider, each on its own
// port of 127.0.0.1; readiness timing, resident memory from /proc, and a stop that always ends them.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import http from "node:http";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { freePort } from "../test/support/idp.ts";

export const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

export type Child = {
  name: string;
  pid: number;
  port: number;
  issuer: string;
  /** Milliseconds from spawn to the readiness URL answering 200. */
  readyMs: number;
  output(): string;
  /** Every output line matching the `collect` pattern given at start, however much output followed. */
  collected(): string[];
  /** SIGTERM, then SIGKILL if it has not exited within the grace period. */
  stop(): Promise<void>;
};

const running = new Set<ChildProcess>();

/** Registers a child so killAllChildren() ends it too. */
export function track<T extends ChildProcess>(child: T): T {
  running.add(child);
  child.once("exit", () => running.delete(child));
  return child;
}

/** Ends every child still running: the last resort on errors, signals and the watchdog. */
export function killAllChildren(): void {
  for (const child of running) child.kill("SIGKILL");
}

function get(url: string): Promise<number> {
  return new Promise((resolve) => {
    const request = http.get(url, { agent: false, timeout: 2000 }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on("timeout", () => request.destroy());
    request.on("error", () => resolve(0));
  });
}

/** A minimal environment: nothing from the caller's shell (a DATABASE_URL there) leaks into a child. */
function childEnv(env: Record<string, string>): Record<string, string> {
  const base: Record<string, string> = {};
  for (const name of ["PATH", "HOME", "TMPDIR", "LANG"]) if (process.env[name]) base[name] = process.env[name]!;
  return { ...base, ...env };
}

async function start(options: {
  name: string;
  args: string[];
  env: Record<string, string>;
  port: number;
  issuer: string;
  readyUrl: string;
  timeoutMs?: number;
  collect?: RegExp;
}): Promise<Child> {
  const began = performance.now();
  const child = spawn(process.execPath, options.args, { cwd: REPO_ROOT, env: childEnv(options.env), stdio: ["ignore", "pipe", "pipe"] });
  track(child);
  let output = "";
  let partial = "";
  const collected: string[] = [];
  const keep = (chunk: Buffer) => {
    const text = chunk.toString();
    output = (output + text).slice(-20_000);
    if (!options.collect) return;
    const lines = (partial + text).split("\n");
    partial = lines.pop()!;
    for (const line of lines) if (options.collect.test(line)) collected.push(line);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let alive = true;
  void exited.then(() => (alive = false));

  const stop = async () => {
    if (!alive) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    await exited;
    clearTimeout(timer);
  };

  const deadline = began + (options.timeoutMs ?? 30_000);
  let readyMs = -1;
  while (performance.now() < deadline) {
    if (!alive) throw new Error(`${options.name} exited before it was ready:\n${output}`);
    if ((await get(options.readyUrl)) === 200) {
      readyMs = performance.now() - began;
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  if (readyMs < 0) {
    await stop();
    throw new Error(`${options.name} was not ready within ${options.timeoutMs ?? 30_000} ms:\n${output}`);
  }
  return { name: options.name, pid: child.pid!, port: options.port, issuer: options.issuer, readyMs, output: () => output, collected: () => collected, stop };
}

/**
 * The Node flags `npm start` runs the IdP with (the Dockerfile's CMD has the same, a test checks):
 * the benchmark measures what ships.
 */
export function productionNodeArgs(): string[] {
  const { scripts } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { scripts: { start: string } };
  const words = scripts.start.split(/\s+/);
  return words.slice(words.indexOf("node") + 1, words.indexOf("idp/cli/bin.ts"));
}

/** `node <production flags> <nodeArgs> idp/cli/bin.ts serve` with the given settings; ready when /readyz answers 200. */
export async function startIdp(env: Record<string, string>, nodeArgs: string[] = [], collect?: RegExp): Promise<Child> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}/oidc`;
  return start({
    name: "our IdP",
    args: [...productionNodeArgs(), ...nodeArgs, "idp/cli/bin.ts", "serve"],
    env: { ...env, PORT: String(port), HOST: "127.0.0.1", ISSUER: issuer },
    port,
    issuer,
    readyUrl: `http://127.0.0.1:${port}/readyz`,
    collect,
  });
}

/** bench/bare-provider.ts, with the same signing key; ready when discovery answers 200. */
export async function startBareProvider(keysDir: string, serviceSecret: string, nodeArgs: string[] = []): Promise<Child> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}/oidc`;
  return start({
    name: "bare oidc-provider",
    args: [...nodeArgs, "bench/bare-provider.ts", "--port", String(port), "--keys-dir", keysDir, "--service-secret", serviceSecret],
    env: { NODE_ENV: "production" }, // oidc-provider's own production mode; keeps its dev warnings short
    port,
    issuer,
    readyUrl: `${issuer}/.well-known/openid-configuration`,
  });
}

/** Resident memory of a process in bytes: VmRSS, its private part (RssAnon), the high-water mark (VmHWM). */
export function memoryOf(pid: number): { rss: number; anon: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN) * 1024;
  return { rss: field("VmRSS"), anon: field("RssAnon"), hwm: field("VmHWM") };
}

/** Samples VmRSS and RssAnon every intervalMs until stopped; returns the highest values seen. */
export function sampleRss(pid: number, intervalMs = 50): { stop(): { rss: number; anon: number } } {
  const peak = { rss: 0, anon: 0 };
  const sample = () => {
    try {
      const { rss, anon } = memoryOf(pid);
      peak.rss = Math.max(peak.rss, rss);
      peak.anon = Math.max(peak.anon, anon);
    } catch {
      // the process ended; the peak so far stands
    }
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}
