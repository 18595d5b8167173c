// The signing keys a running server uses, kept current: it re-reads KEYS_DIR on an interval and
// recomputes the schedule with the clock, so a key added by `idp keys rotate` on any instance (on
// a shared keys directory) is published, starts signing and retires everywhere without a restart.
import { keySchedule, type KeySchedule, type KeySchedulePolicy } from "./key-schedule.ts";
import { KeyFileError, loadSigningKeys, type SigningKey } from "./signing-keys.ts";

export type KeyRing = {
  current(): KeySchedule;
  /** Re-reads the directory; returns true when what signs or what is published changed. */
  refresh(): Promise<boolean>;
  onChange(listener: (schedule: KeySchedule) => void): void;
  start(intervalSeconds: number, onError: (error: unknown) => void): void;
  stop(): void;
};

const fingerprint = (schedule: KeySchedule) => schedule.published.map((key) => key.kid).join(",");

export async function createKeyRing(options: {
  dir: string;
  now: () => Date;
  policy: KeySchedulePolicy;
  /** The keys as the server loaded them at start; the directory is read again only on refresh. */
  loaded?: SigningKey[];
}): Promise<KeyRing> {
  const compute = async (keys?: SigningKey[]) => {
    const schedule = keySchedule(keys ?? (await loadSigningKeys(options.dir)), options.now(), options.policy);
    if (!schedule.signing) throw new KeyFileError(`no signing key is active now in ${options.dir}`);
    return schedule;
  };
  let schedule = await compute(options.loaded);
  const listeners: ((schedule: KeySchedule) => void)[] = [];
  let timer: NodeJS.Timeout | undefined;

  const ring: KeyRing = {
    current: () => schedule,
    async refresh() {
      const next = await compute();
      const changed = fingerprint(next) !== fingerprint(schedule);
      schedule = next;
      if (changed) for (const listener of listeners) listener(schedule);
      return changed;
    },
    onChange: (listener) => void listeners.push(listener),
    start(intervalSeconds, onError) {
      if (intervalSeconds <= 0) return;
      // A bad file written mid-rotation must not stop signing: keep the last good schedule.
      timer = setInterval(() => ring.refresh().catch(onError), intervalSeconds * 1000);
      timer.unref();
    },
    stop: () => clearInterval(timer),
  };
  return ring;
}
