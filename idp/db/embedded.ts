// The embedded development database: PGlite persisted under DATA_DIR, served on a Unix socket
// so the same `pg` code path talks to it. One process owns the data directory; any other process
// (the CLI while the server runs) connects through the owner's socket instead of opening it again.
import { mkdir, open, readFile, rm } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import pg from "pg";
import { PGlite } from "@electric-sql/pglite";
import { createDatabase, type Database } from "./database.ts";
import { servePglite } from "./pglite-socket.ts";

// pg looks for "<host>/.s.PGSQL.<port>" when host is a directory.
const SOCKET_PORT = 5432;

function socketPathOf(dataDir: string): string {
  return path.join(dataDir, `.s.PGSQL.${SOCKET_PORT}`);
}

function canConnect(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Takes the data directory's lock file; returns false when a live process holds it. */
async function tryLock(lockPath: string): Promise<boolean> {
  try {
    const handle = await open(lockPath, "wx", 0o600);
    await handle.writeFile(String(process.pid));
    await handle.close();
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    const holder = Number(await readFile(lockPath, "utf8").catch(() => ""));
    if (Number.isInteger(holder) && holder > 0 && isAlive(holder)) return false;
    await rm(lockPath, { force: true }); // left behind by a process that died
    return tryLock(lockPath);
  }
}

function poolOnSocket(dataDir: string, max: number): pg.Pool {
  // PGlite runs one query at a time whatever the pool size; a few connections keep a transaction
  // in one request from stalling every other request's pool checkout.
  return new pg.Pool({ host: dataDir, port: SOCKET_PORT, user: "postgres", database: "postgres", max });
}

async function waitForSocket(socketPath: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await canConnect(socketPath)) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

/**
 * Opens the embedded database under dataDir: connects to the process that already serves it, or
 * becomes that process. Closing the owner stops the socket and flushes PGlite.
 */
export async function openEmbeddedDatabase(dataDir: string): Promise<Database & { owner: boolean }> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const socketPath = socketPathOf(dataDir);
  const lockPath = path.join(dataDir, "embedded.lock");

  if (!(await tryLock(lockPath))) {
    if (!(await waitForSocket(socketPath, 15_000))) {
      throw new Error(`the embedded database in ${dataDir} is locked by another process that does not answer`);
    }
    return { ...createDatabase(poolOnSocket(dataDir, 2), { prepareStatements: false }), owner: false };
  }

  try {
    await rm(socketPath, { force: true }); // stale socket of a process that died
    const pglite = await PGlite.create(path.join(dataDir, "pgdata"));
    const server = await servePglite(pglite, socketPath);
    const database = createDatabase(poolOnSocket(dataDir, 4), {
      prepareStatements: false,
      onClose: async () => {
        await server.close();
        await pglite.close();
        await rm(lockPath, { force: true });
      },
    });
    return { ...database, owner: true };
  } catch (error) {
    await rm(lockPath, { force: true });
    throw error;
  }
}
