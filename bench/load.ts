// A closed-loop load runner: N virtual clients each repeat one operation back to back for a warm-up
// and then a fixed measuring window; it counts what completed inside the window, with latencies.
import { performance } from "node:perf_hooks";

export type LoadOptions = {
  connections: number;
  warmupMs: number;
  durationMs: number;
  /** Builds virtual client i's operation; it throws when the answer is not the expected one. */
  operation: (index: number) => () => Promise<void>;
};

/** One run's raw outcome; several runs of the same scenario combine into one LoadResult. */
export type RawLoad = {
  latencies: number[];
  errors: number;
  firstError?: string;
  durationMs: number;
  /** Every successful operation, warm-up and stragglers included. */
  completed: number;
  /** CPU the server used over the whole run (warm-up included), ms; and its PostgreSQL backends'. */
  serverCpuMs?: number;
  databaseCpuMs?: number;
};

export type LoadResult = {
  /** Operations completed successfully inside the window, per second. */
  rate: number;
  count: number;
  errors: number;
  firstError?: string;
  p50Ms: number;
  p99Ms: number;
  /** CPU per completed operation, ms: the server process, and its PostgreSQL backends (when measured). */
  serverCpuMsPerOp?: number;
  databaseCpuMsPerOp?: number;
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
}

/** Sums runs: the rate over their combined windows, percentiles over all their latencies. */
export function combine(runs: RawLoad[]): LoadResult {
  const latencies = runs.flatMap((run) => run.latencies).sort((a, b) => a - b);
  const seconds = runs.reduce((sum, run) => sum + run.durationMs, 0) / 1000;
  return {
    rate: latencies.length / seconds,
    count: latencies.length,
    errors: runs.reduce((sum, run) => sum + run.errors, 0),
    firstError: runs.find((run) => run.firstError)?.firstError,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    ...perOperation(runs),
  };
}

/** CPU per operation over the runs that measured it (over every completed operation: CPU was counted for the whole run). */
function perOperation(runs: RawLoad[]): Pick<LoadResult, "serverCpuMsPerOp" | "databaseCpuMsPerOp"> {
  const measured = runs.filter((run) => run.serverCpuMs !== undefined);
  const completed = measured.reduce((sum, run) => sum + run.completed, 0);
  if (completed === 0) return {};
  const sum = (pick: (run: RawLoad) => number | undefined) => measured.reduce((total, run) => total + (pick(run) ?? 0), 0);
  return {
    serverCpuMsPerOp: sum((run) => run.serverCpuMs) / completed,
    ...(measured.some((run) => run.databaseCpuMs !== undefined) ? { databaseCpuMsPerOp: sum((run) => run.databaseCpuMs) / completed } : {}),
  };
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  return combine([await runLoadRaw(options)]);
}

export async function runLoadRaw({ connections, warmupMs, durationMs, operation }: LoadOptions): Promise<RawLoad> {
  const start = performance.now();
  const windowStart = start + warmupMs;
  const windowEnd = windowStart + durationMs;
  const latencies: number[] = [];
  let errors = 0;
  let completed = 0;
  let firstError: string | undefined;

  async function virtualClient(index: number) {
    const run = operation(index);
    while (performance.now() < windowEnd) {
      const began = performance.now();
      try {
        await run();
        completed++;
        const ended = performance.now();
        // Counted by when it completed: throughput is completions per second of the window.
        if (ended >= windowStart && ended <= windowEnd) latencies.push(ended - began);
      } catch (error) {
        const ended = performance.now();
        if (ended >= windowStart && ended <= windowEnd) errors++;
        firstError ??= error instanceof Error ? error.message : String(error);
        await sleep(100); // a failing client must not spin
      }
    }
  }

  await Promise.all(Array.from({ length: connections }, (_, index) => virtualClient(index)));
  return { latencies, errors, firstError, durationMs, completed };
}
