// Rate-limit counters counted in memory and synced with the shared RateLimitStore in the
// background, so a request costs no round trip. Each key holds the current fixed window as this
// instance knows it: the store's count at the last sync plus the hits counted here since. Every
// interval one add() per batch sends what was counted here and brings back the store's count, which
// includes every other instance's hits. One instance alone therefore counts exactly like the store
// would; with several, each sees the others' hits at most about one interval late.
import { boundedWait } from "../db/bounded-wait.ts";
import type { Counter, CounterAdd, RateLimitStore } from "../store/rate-limits.ts";

export type SyncedCountersOptions = {
  store: Pick<RateLimitStore, "add">;
  /** How often sync() runs by itself, milliseconds. 0: never by itself (tests call sync()). */
  intervalMs: number;
  now?: () => Date;
  /**
   * The longest wait for one add(), ms (0: no limit). Past it the add counts as failed, so a store
   * that stopped answering holds up neither the next sync nor close(); should its answer still
   * come, those hits are counted twice, erring towards limiting.
   */
  timeoutMs?: number;
  /** Told when a sync fails; what it would have sent is kept for the next one. */
  onSyncError?: (error: unknown) => void;
  /**
   * The most keys held; past it the oldest window is forgotten here, its unsent hits kept for the
   * next sync (so the store still counts them; only this instance's view of that key restarts).
   */
  maxKeys?: number;
  /** The most keys sent in one add(). */
  batchSize?: number;
};

/** One key's current window, as this instance knows it. */
type Window = {
  windowSeconds: number;
  /** When it ends, ms: the store's end once a sync has told it, until then this instance's own. */
  endsAt: number;
  /** The store's count at the last sync, which includes everything this instance had sent. */
  shared: number;
  /** Hits counted here and not sent yet. */
  pending: number;
  /** Hits in an add() that has not answered yet. */
  sending: number;
};

// Attacker-chosen keys (client ids, rotating IPv6 /64s) can fill it: ~300 bytes each at most.
export const DEFAULT_MAX_KEYS = 20_000;
const DEFAULT_BATCH_SIZE = 1_000;
/** How many of the oldest windows eviction compares. */
const EVICTION_CANDIDATES = 16;

export function createSyncedCounters(options: SyncedCountersOptions) {
  const { store, intervalMs } = options;
  const now = options.now ?? (() => new Date());
  const maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  const add = (adds: CounterAdd[]) => boundedWait("the rate-limit counters", options.timeoutMs ?? 0, () => store.add(adds));
  // Map order is the order windows started in: the first is the oldest, the one to forget first.
  const windows = new Map<string, Window>();
  // Hits of windows forgotten before they were sent, first in line at the next sync (bounded too:
  // only a flood of more new keys per interval than maxKeys can make hits go uncounted).
  let evicted: CounterAdd[] = [];
  let queue: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  /** Whether the last sync to finish met a failing store. */
  let failing = false;
  const failed = (error: unknown) => {
    failing = true;
    options.onSyncError?.(error);
  };

  /** The add() for `amount` hits of a window: the store's window starts where this one did, so one instance's windows match the store's exactly. */
  const addFor = (key: string, window: Window, amount: number): CounterAdd => ({
    key,
    amount,
    windowSeconds: window.windowSeconds,
    startedAt: new Date(window.endsAt - window.windowSeconds * 1000),
  });

  /** Sends the hits of forgotten windows; false when the store failed (what was not sent waits for the next sync). */
  async function sendEvicted(): Promise<boolean> {
    const sending = evicted;
    evicted = [];
    for (let start = 0; start < sending.length; start += batchSize) {
      try {
        await add(sending.slice(start, start + batchSize));
      } catch (error) {
        evicted = [...sending.slice(start), ...evicted].slice(-maxKeys);
        failed(error);
        return false;
      }
    }
    return true;
  }

  /** One pass: sends every live window's pending hits (0 for the others, which only reads) and takes the store's counts. */
  async function syncOnce(): Promise<void> {
    const at = now().getTime();
    const live: [string, Window][] = [];
    for (const [key, window] of windows) {
      // A window that has ended is forgotten, its unsent hits too: they can no longer limit anything.
      if (window.endsAt <= at) windows.delete(key);
      else live.push([key, window]);
    }
    if (!(await sendEvicted())) return;
    for (let start = 0; start < live.length; start += batchSize) {
      const batch = live.slice(start, start + batchSize);
      const adds = batch.map(([key, window]) => {
        window.sending = window.pending;
        window.pending = 0;
        return addFor(key, window, window.sending);
      });
      let counters: Counter[];
      try {
        counters = await add(adds);
      } catch (error) {
        for (const [, window] of batch) {
          window.pending += window.sending;
          window.sending = 0;
        }
        failed(error);
        return; // the store is failing: the remaining batches wait for the next sync
      }
      // A window replaced meanwhile (it ended, or was forgotten) is no longer in the map: updating it is harmless.
      batch.forEach(([, window], index) => {
        window.shared = counters[index]!.count;
        window.endsAt = counters[index]!.resetAt.getTime();
        window.sending = 0;
      });
    }
    failing = false;
  }

  /**
   * Makes room: of the oldest few windows, the one with the lowest count goes (a flood of one-off
   * keys must not push out the key of whoever is flooding), and what it had not sent yet waits in
   * `evicted`.
   */
  function forgetOldest(at: number) {
    const countOf = (window: Window) => window.shared + window.sending + window.pending;
    let victim: [string, Window] | undefined;
    let looked = 0;
    for (const entry of windows) {
      if (!victim || countOf(entry[1]) < countOf(victim[1])) victim = entry;
      if (++looked >= EVICTION_CANDIDATES) break;
    }
    if (!victim) return;
    const [key, window] = victim;
    windows.delete(key);
    if (window.pending === 0 || window.endsAt <= at) return;
    evicted.push(addFor(key, window, window.pending));
    if (evicted.length > maxKeys) evicted.shift();
  }

  function sync(): Promise<void> {
    // One sync at a time: a second call waits for the running one, then sends what came after it.
    const next = queue.then(() =>
      syncOnce().catch(failed),
    );
    queue = next;
    return next;
  }

  function schedule() {
    if (closed || intervalMs <= 0) return;
    timer = setTimeout(() => void sync().then(schedule), intervalMs);
    // Never what keeps the process alive.
    timer.unref();
  }
  schedule();

  return {
    /**
     * Counts one hit on `key` and returns the counter as this instance knows it: the store's count
     * at the last sync plus what was counted here since. A window that has ended starts again at 1,
     * for `windowSeconds` from now. Synchronous: no round trip.
     */
    hit(key: string, windowSeconds: number): Counter {
      const at = now().getTime();
      let window = windows.get(key);
      if (!window || window.endsAt <= at) {
        windows.delete(key);
        if (windows.size >= maxKeys) forgetOldest(at);
        window = { windowSeconds, endsAt: at + windowSeconds * 1000, shared: 0, pending: 0, sending: 0 };
        windows.set(key, window);
      }
      window.pending++;
      return { count: window.shared + window.sending + window.pending, resetAt: new Date(window.endsAt) };
    },

    /** Sends the hits counted here and takes the store's counts; never rejects (failures go to onSyncError). */
    sync,

    /** How many keys are held. */
    get size() {
      return windows.size;
    },

    /**
     * Stops the timer and sends what is left, after the sync under way if there is one; unless that
     * one has just found the store failing: trying again would only hold the shutdown up as long again.
     */
    async close(): Promise<void> {
      closed = true;
      clearTimeout(timer);
      await queue;
      if (!failing) await sync();
    },
  };
}

export type SyncedCounters = ReturnType<typeof createSyncedCounters>;
