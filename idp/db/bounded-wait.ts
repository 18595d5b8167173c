// Puts a limit on how long the IdP waits for any dependency: PostgreSQL, Redis and any added later
// (SMTP, SMS, upstream identity providers). A server can accept a connection and then never answer,
// and a wait with no limit holds a request, a background job or the shutdown for as long as that
// lasts. Past the limit the caller gets a DependencyTimeoutError, which is a
// BackendUnavailableError: requests answer 503 with Retry-After, as for any outage.
//
// A new dependency follows the same pattern: its own timeout setting in config.ts (0 turns it
// off), the client library's own timeouts set where it has them (connect, socket, command), and
// the whole call in boundedWait with that setting, passing the signal to the library (fetch and
// most clients accept an AbortSignal) so that work abandoned by the caller stops too. A
// connection whose call timed out may still have an answer on the way: close it rather than reuse it.
import { BackendUnavailableError } from "./availability.ts";

export class DependencyTimeoutError extends BackendUnavailableError {
  override name = "DependencyTimeoutError";
}

/**
 * Runs `run`, waiting at most `timeoutMs` for it (0: no limit). Past the limit the signal given to
 * `run` is aborted and the returned promise rejects with a DependencyTimeoutError naming `what`;
 * whatever `run` still does afterwards is ignored.
 */
export function boundedWait<T>(what: string, timeoutMs: number, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  if (timeoutMs <= 0) return run(controller.signal);
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      const error = new DependencyTimeoutError(`${what} did not answer within ${timeoutMs} ms`);
      controller.abort(error);
      reject(error);
    }, timeoutMs);
    const settle = () => clearTimeout(timer);
    let started: Promise<T>;
    try {
      started = run(controller.signal);
    } catch (error) {
      settle();
      reject(error);
      return;
    }
    started.then(
      (value) => {
        settle();
        resolve(value);
      },
      (error: unknown) => {
        settle();
        reject(error);
      },
    );
  });
}
