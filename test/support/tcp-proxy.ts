// A TCP proxy in front of PostgreSQL or Redis that a test can cut and restore, or hang and resume,
// to make the dependency "go away" or "stop answering" for one IdP without touching the server
// every other test uses.
import net from "node:net";

export type TcpProxy = {
  port: number;
  /** Drops every open connection and refuses new ones, like a database that went down. */
  cut(): Promise<void>;
  /** Accepts connections again on the same port. */
  restore(): Promise<void>;
  /**
   * Stops answering without refusing anything, like a server that froze or a network that drops
   * packets: open connections stop forwarding both ways (what the client sends, a goodbye
   * included, is swallowed; nothing ever comes back), and new connections are accepted and never
   * answered. Connections hung here stay hung for good: the client has to give up on them itself.
   */
  hang(): void;
  /** New connections are forwarded again (those that were hung stay hung). */
  resume(): void;
  close(): Promise<void>;
};

type Pair = { sockets: net.Socket[]; hung: boolean };

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let server: net.Server | undefined;
  let port = 0;
  let hanging = false;

  const destroy = (pair: Pair) => {
    pairs.delete(pair);
    for (const socket of pair.sockets) socket.destroy();
  };

  /** Forwards data and the end of the stream from one side to the other while the pair is not hung. */
  const forward = (pair: Pair, from: net.Socket, to: net.Socket) => {
    from.on("data", (chunk: Buffer) => {
      if (!pair.hung) to.write(chunk);
    });
    from.on("end", () => {
      if (!pair.hung) to.end();
    });
    // A client that leaves takes its upstream connection along; a server that leaves takes the
    // client's, unless the pair is hung (then the client never hears of it).
    from.on("close", () => {
      if (from === pair.sockets[0] || !pair.hung) destroy(pair);
    });
  };

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      // Half-open allowed: a hung connection must not answer the client's goodbye with its own.
      server = net.createServer({ allowHalfOpen: true }, (client) => {
        const pair: Pair = { sockets: [client], hung: hanging };
        pairs.add(pair);
        client.on("error", () => {});
        if (pair.hung) {
          client.resume(); // read and drop everything, answer nothing
          client.on("close", () => destroy(pair));
          return;
        }
        const upstream = net.connect({ port: target.port, host: target.host, allowHalfOpen: true });
        upstream.on("error", () => {});
        pair.sockets.push(upstream);
        forward(pair, client, upstream);
        forward(pair, upstream, client);
      });
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        port = (server!.address() as net.AddressInfo).port;
        resolve();
      });
    });

  const stop = () =>
    new Promise<void>((resolve) => {
      for (const pair of [...pairs]) destroy(pair);
      if (!server) return resolve();
      server.close(() => resolve());
      server = undefined;
    });

  await listen();
  return {
    get port() {
      return port;
    },
    cut: stop,
    restore: listen,
    hang() {
      hanging = true;
      for (const pair of pairs) pair.hung = true;
    },
    resume() {
      hanging = false;
    },
    close: stop,
  };
}
