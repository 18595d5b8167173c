// The loop both outbox workers run (mail and SMS in mail/outbox-worker.ts, webhooks in
// webhooks/delivery-worker.ts): a round claims due rows and handles them side by side; another
// round follows at once when the round asks for it (a full batch, a delivery that unblocked the
// next) or when woken meanwhile, else at the next poll. Stopping waits a bounded time for the
// round in flight; whatever it leaves, its lease brings back to a worker later.
export type DrainRound<T> = {
  /** Claims the due rows (under a lease); a failure ends the round, and the next poll tries again. */
  claim(): Promise<T[]>;
  handle(item: T): Promise<void>;
  /** Whether to run another round at once after one that claimed these. */
  again(claimed: T[]): boolean;
  /** The claim failed (the database is away). */
  onClaimError(error: unknown): void;
  /** Handling failed in the outbox's own writes (the row's lease then brings it back). */
  onHandleError(error: unknown): void;
};

export type DrainLoop = {
  start(): void;
  /** Something was queued: handle it now rather than at the next poll. */
  wake(): void;
  /** Stops polling and waits (at most stopWaitMs) for the round in flight. */
  stop(): Promise<void>;
};

export function createDrainLoop<T>(round: DrainRound<T>, options: { pollIntervalMs: number; stopWaitMs: number }): DrainLoop {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = true;

  async function drain(): Promise<void> {
    do {
      again = false;
      let claimed: T[];
      try {
        claimed = await round.claim();
      } catch (error) {
        round.onClaimError(error);
        return;
      }
      for (const result of await Promise.allSettled(claimed.map((item) => round.handle(item)))) {
        if (result.status === "rejected") round.onHandleError(result.reason);
      }
      if (round.again(claimed)) again = true;
    } while (again && !stopped);
  }

  /** Runs a round now, or right after the one running. */
  function poll(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = drain().finally(() => {
      running = undefined;
    });
  }

  return {
    start() {
      if (!stopped) return;
      stopped = false;
      timer = setInterval(poll, options.pollIntervalMs);
      timer.unref();
      poll();
    },
    wake() {
      if (!stopped) setImmediate(poll);
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      if (running) {
        let waited: NodeJS.Timeout | undefined;
        await Promise.race([running, new Promise<void>((resolve) => (waited = setTimeout(resolve, options.stopWaitMs)))]);
        clearTimeout(waited);
      }
    },
  };
}
