// Who used the CPU while the benchmark measured: the machine's busy time (/proc/stat) split into
// the benchmark's own processes (itself, its servers, the PostgreSQL backends of its database)
// and everything else, which took CPU from both servers and makes the figures noisier.
import { readdirSync, readFileSync } from "node:fs";
import os from "node:os";

type Snapshot = { busy: number; total: number; ours: Map<number, number> };

function machineTicks(): { busy: number; total: number } {
  const fields = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((sum, value) => sum + value, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}

export function processTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]); // utime + stime (fields 14 and 15)
  } catch {
    return undefined;
  }
}

/** PostgreSQL backends serving one database: their command line names it. */
export function backendsOf(database: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (cmdline.startsWith("postgres:") && cmdline.includes(` ${database} `)) pids.push(Number(entry));
    } catch {
      // gone already
    }
  }
  return pids;
}

export type CpuShare = { machineBusy: number; benchmark: number; others: number; loadAverage: number };

/** Starts counting; stop() returns the shares of the whole machine (1 = every core busy). */
export function cpuAccounting(ourPids: () => number[], database: string): { stop(): CpuShare } {
  const take = (): Snapshot => {
    const pids = [process.pid, ...ourPids(), ...backendsOf(database)];
    const ours = new Map<number, number>();
    for (const pid of pids) {
      const ticks = processTicks(pid);
      if (ticks !== undefined) ours.set(pid, ticks);
    }
    return { ...machineTicks(), ours };
  };
  const before = take();
  return {
    stop() {
      const after = take();
      let benchmarkTicks = 0;
      // A process first seen at the end was born inside the window: all its time counts.
      for (const [pid, ticks] of after.ours) benchmarkTicks += ticks - (before.ours.get(pid) ?? 0);
      const cores = os.cpus().length;
      const total = after.total - before.total; // summed over every core, in the same ticks
      const busy = after.busy - before.busy;
      return {
        machineBusy: busy / total,
        benchmark: Math.min(1, benchmarkTicks / total),
        others: Math.max(0, (busy - benchmarkTicks) / total),
        loadAverage: os.loadavg()[0]! / cores,
      };
    },
  };
}

/** Clock ticks per second of /proc's utime and stime (USER_HZ: 100 on Linux). */
const TICKS_PER_SECOND = 100;

/**
 * CPU time the given processes use over a window, in milliseconds: what an operation costs its
 * server (and the server's PostgreSQL backends), whatever else the machine was doing meanwhile.
 */
export function cpuTime(pids: () => number[]): { stop(): number } {
  const take = () => new Map(pids().map((pid) => [pid, processTicks(pid)] as const));
  const before = take();
  return {
    stop() {
      let ticks = 0;
      for (const [pid, after] of take()) ticks += (after ?? 0) - (before.get(pid) ?? 0);
      return (ticks / TICKS_PER_SECOND) * 1000;
    },
  };
}
