// Raw HTTP/1.1 over a TCP socket, for requests no client library will send (a malformed or doubled
// Host, control and non-ASCII bytes in the request line): the bytes go out exactly as given, and
// the answer is read by Node's own HTTP response parser, so "an HTTP answer" means a real parse.
import http from "node:http";
import net from "node:net";
import { Duplex } from "node:stream";

export type RawAnswer = { status: number; headers: http.IncomingHttpHeaders; body: Buffer };

/**
 * Writes `request` to a new connection to 127.0.0.1:`port` and resolves with the first response.
 * Rejects when the server closes without a parseable answer, or sends nothing for `idleMs` (a hang,
 * reported as such instead of a test timeout). `head`: the request was a HEAD (no body follows).
 */
export function rawExchange(port: number, request: Buffer | string, options: { head?: boolean; idleMs?: number } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.setTimeout(options.idleMs ?? 10_000, () => socket.destroy(new Error("no answer: the connection went idle")));
    // Node's HTTP client reads the server's bytes from this channel; what it writes itself is dropped.
    const channel = new Duplex({
      read() {},
      write(_chunk, _encoding, done) {
        done();
      },
    });
    socket.on("data", (chunk: Buffer) => channel.push(chunk));
    socket.on("end", () => channel.push(null));
    socket.on("error", (error) => channel.destroy(error));
    socket.write(typeof request === "string" ? Buffer.from(request, "latin1") : request);

    const client = http.request({ createConnection: () => channel as unknown as net.Socket, method: options.head ? "HEAD" : "GET", path: "/" });
    client.on("response", (response) => {
      // A HEAD's answer ends with its headers. (A server that could not parse the request does not
      // know it was a HEAD and sends a body, which the parser would take for a second response.)
      if (options.head) {
        resolve({ status: response.statusCode!, headers: response.headers, body: Buffer.alloc(0) });
        socket.destroy();
        return;
      }
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => {
        resolve({ status: response.statusCode!, headers: response.headers, body: Buffer.concat(chunks) });
        socket.destroy();
      });
      response.on("error", reject);
    });
    client.on("error", (error) => {
      socket.destroy();
      reject(error);
    });
    client.end();
  });
}

/** A request as bytes: the request line, the header lines as given (duplicates and all), a body. */
export function rawRequest(requestLine: string, headers: [string, string][], body = ""): Buffer {
  const head = [requestLine, ...headers.map(([name, value]) => `${name}: ${value}`)].join("\r\n");
  return Buffer.from(`${head}\r\n\r\n${body}`, "latin1");
}

/** The headers that frame a form-encoded body: none for an empty body. */
export function formFraming(body: string): [string, string][] {
  return body ? [["Content-Type", "application/x-www-form-urlencoded"], ["Content-Length", String(Buffer.byteLength(body, "latin1"))]] : [];
}
