// Serves a PGlite database to several `pg` connections on a Unix socket. PGlite is a single
// session, so each connection's messages run as whole protocol cycles (everything up to a Sync or
// a simple Query), and a connection that is inside a transaction keeps the session until the
// transaction ends. (@electric-sql/pglite-socket interleaves single messages of concurrent
// connections, which mixes their extended-protocol queries and breaks transactions.)
import net from "node:net";
import type { PGlite } from "@electric-sql/pglite";

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const TERMINATE = "X".charCodeAt(0);
// Sync and simple Query end a cycle: the server answers them with ReadyForQuery. Flush asks for
// output without one, so it is run at once too.
const CYCLE_ENDS = new Set(["S", "Q", "H"].map((letter) => letter.charCodeAt(0)));

/** Who holds the PGlite session: one connection at a time, handed over in arrival order. */
class SessionLock {
  private owner: number | null = null;
  private waiters: { id: number; resolve: () => void }[] = [];

  async acquire(id: number): Promise<void> {
    if (this.owner === null || this.owner === id) {
      this.owner = id;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push({ id, resolve }));
  }

  release(id: number): void {
    if (this.owner !== id) return;
    const next = this.waiters.shift();
    this.owner = next ? next.id : null;
    next?.resolve();
  }

  holds(id: number): boolean {
    return this.owner === id;
  }
}

export async function servePglite(db: PGlite, socketPath: string): Promise<{ close(): Promise<void> }> {
  const lock = new SessionLock();
  const sockets = new Set<net.Socket>();
  let nextId = 1;

  const server = net.createServer((socket) => {
    const id = nextId++;
    sockets.add(socket);
    let buffer = Buffer.alloc(0);
    let started = false;
    let cycle: Buffer[] = [];
    let work = Promise.resolve();

    const runCycle = async (messages: Buffer[]) => {
      await lock.acquire(id);
      try {
        await db.runExclusive(async () => {
          for (const message of messages) {
            await db.execProtocolRawStream(new Uint8Array(message), {
              onRawData: (data) => {
                if (socket.writable) socket.write(data);
              },
            });
          }
        });
      } finally {
        if (!db.isInTransaction()) lock.release(id);
      }
    };
    const schedule = (messages: Buffer[]) => {
      work = work
        .then(() => runCycle(messages))
        .catch((error: unknown) => {
          socket.destroy(error as Error);
        });
    };

    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        if (!started) {
          if (buffer.length < 8 || buffer.length < buffer.readInt32BE(0)) return;
          const length = buffer.readInt32BE(0);
          const code = buffer.readInt32BE(4);
          const message = Buffer.from(buffer.subarray(0, length));
          buffer = buffer.subarray(length);
          if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
            socket.write("N"); // no encryption on a local socket
            continue;
          }
          if (code === CANCEL_REQUEST) {
            socket.end();
            return;
          }
          started = true;
          schedule([message]);
          continue;
        }
        if (buffer.length < 5 || buffer.length < buffer.readInt32BE(1) + 1) return;
        const length = buffer.readInt32BE(1) + 1;
        const message = Buffer.from(buffer.subarray(0, length));
        buffer = buffer.subarray(length);
        if (message[0] === TERMINATE) {
          socket.end();
          return;
        }
        cycle.push(message);
        if (CYCLE_ENDS.has(message[0]!)) {
          schedule(cycle);
          cycle = [];
        }
      }
    });

    socket.on("error", () => socket.destroy());
    socket.on("close", () => {
      sockets.delete(socket);
      // A connection that dies inside a transaction must not keep the session or its changes.
      work = work.then(async () => {
        if (!lock.holds(id)) return;
        if (db.isInTransaction()) await db.exec("ROLLBACK").catch(() => {});
        lock.release(id);
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => resolve());
  });

  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
