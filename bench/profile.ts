// Reads a V8 .cpuprofile (node --cpu-prof) and sums self time per function and per package, so a
// missed target can be explained by where the IdP's CPU went.
import { readFile } from "node:fs/promises";

type ProfileNode = {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
};
type CpuProfile = { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };

export type ProfileSummary = {
  /** Busy milliseconds: every sample but (idle). */
  busyMs: number;
  /** Milliseconds the summary covers (after skipFirstMs), busy or idle. */
  spanMs: number;
  functions: { name: string; where: string; selfMs: number; share: number }[];
  packages: { name: string; selfMs: number; share: number }[];
};

/** Where a script lives, as a reader would name it: a package, our code, or Node itself. */
export function packageOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith("(") ? functionName : "(native)";
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules) return modules[1]!;
  if (url.startsWith("node:")) return "node (built-in modules)";
  const ours = /\/(idp|bench)\//.exec(url);
  if (ours) return `${ours[1]}/ (ours)`;
  return url;
}

function shortWhere(url: string, line: number): string {
  if (!url) return "";
  const trimmed = url.replace(/^file:\/\//, "").replace(/^.*?node_modules\//, "").replace(/^.*\/(idp|bench)\//, "$1/");
  return `${trimmed}:${line + 1}`;
}

/** Sums the profile's samples, leaving out the first skipFirstMs (start-up, when profiling a load). */
export async function summariseProfile(file: string, { top = 15, skipFirstMs = 0 } = {}): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  let elapsedUs = 0;
  let spanUs = 0;
  profile.samples.forEach((id, index) => {
    const delta = profile.timeDeltas[index] ?? 0;
    elapsedUs += delta;
    if (elapsedUs < skipFirstMs * 1000) return;
    spanUs += delta;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  });

  const functions = new Map<string, { name: string; where: string; us: number }>();
  const packages = new Map<string, number>();
  let busyUs = 0;
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    if (functionName === "(idle)") continue;
    busyUs += us;
    const name = functionName || "(anonymous)";
    const where = shortWhere(url, lineNumber);
    const key = `${name}|${where}`;
    const entry = functions.get(key) ?? { name, where, us: 0 };
    entry.us += us;
    functions.set(key, entry);
    const pkg = packageOf(url, name);
    packages.set(pkg, (packages.get(pkg) ?? 0) + us);
  }
  const share = (us: number) => (busyUs ? us / busyUs : 0);
  return {
    busyMs: busyUs / 1000,
    spanMs: spanUs / 1000,
    functions: [...functions.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((entry) => ({ name: entry.name, where: entry.where, selfMs: entry.us / 1000, share: share(entry.us) })),
    packages: [...packages.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, selfMs: us / 1000, share: share(us) })),
  };
}
