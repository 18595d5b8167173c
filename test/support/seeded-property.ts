// fast-check runs that replay exactly: a fixed seed and number of runs, named in the failure.
import fc from "fast-check";

/**
 * Checks `property` on `numRuns` inputs generated from `seed`. A failure's message (fast-check's:
 * the seed and the shrunk counterexample) ends with `Replay with ${replay}`, the settings that
 * repeat the run.
 */
export async function assertSeeded<Ts>(property: fc.IAsyncProperty<Ts>, settings: { seed: number; numRuns: number }, replay: string): Promise<void> {
  try {
    await fc.assert(property, settings);
  } catch (error) {
    (error as Error).message += `\nReplay with ${replay}`;
    throw error;
  }
}
