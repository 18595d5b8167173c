// Shared by the tests that compare response times: the statistics they compare, and the loop that
// sends two requests at the same moment, alternating which goes first.

export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length / 2;
  return sorted.length % 2 ? sorted[Math.floor(middle)]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

/**
 * The mean without the fastest and slowest tenth. The two requests of a trial share one event loop
 * (client and IdP run in this process), so whichever is handled second waits for the first: the
 * times fall in two groups, where a median is unstable and a trimmed mean is not.
 */
export const trimmedMean = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const cut = Math.floor(sorted.length / 10);
  const kept = sorted.slice(cut, sorted.length - cut);
  return kept.reduce((sum, value) => sum + value, 0) / kept.length;
};

export type Sides<T> = { known: T; unknown: T };

/**
 * Runs `warmUp + trials` trials: each prepares a request per side (`prepare`, not timed), then sends
 * both at the same moment, alternating which goes first, so both meet the same load. Returns the
 * times after the warm-up; `check` sees every reply.
 */
export async function alternatingTrials<R extends { ms: number }>(options: {
  trials: number;
  warmUp: number;
  prepare: (trial: number) => Promise<Sides<() => Promise<R>>>;
  check: (reply: R) => void;
}): Promise<Sides<number[]>> {
  const times: Sides<number[]> = { known: [], unknown: [] };
  for (let i = 0; i < options.warmUp + options.trials; i++) {
    const send = await options.prepare(i);
    const order = i % 2 ? (["known", "unknown"] as const) : (["unknown", "known"] as const);
    const replies = await Promise.all(order.map((which) => send[which]()));
    for (const [index, which] of order.entries()) {
      options.check(replies[index]!);
      if (i >= options.warmUp) times[which].push(replies[index]!.ms);
    }
  }
  return times;
}

/** The trimmed means of both sides, their relative difference, and a line saying so. */
export function compare(label: string, names: Sides<string>, times: Sides<number[]>) {
  const known = trimmedMean(times.known);
  const unknown = trimmedMean(times.unknown);
  const difference = Math.abs(known - unknown) / Math.min(known, unknown);
  const summary =
    `${label} over ${times.known.length} trials each: ${names.known} ${known.toFixed(2)} ms, ${names.unknown} ${unknown.toFixed(2)} ms ` +
    `(means without the fastest and slowest 10%; medians ${median(times.known).toFixed(2)} and ${median(times.unknown).toFixed(2)} ms), ` +
    `difference ${(difference * 100).toFixed(1)}%`;
  return { known, unknown, difference, summary };
}
