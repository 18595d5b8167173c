// Log lines an app writes, captured for a test: a pino stream that keeps each line as a string.
import { Writable } from "node:stream";

export function captureLogs(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { stream, lines };
}
