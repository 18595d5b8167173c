import { realpathSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { NextConfig } from "next";

// The repository root: the app imports convex/_generated from there, and its node_modules are there.
const repository = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
// Turbopack compiles nothing outside its root, so the root must also hold node_modules' real
// location: a git worktree's node_modules may be a symlink into another checkout.
const root = commonAncestor(repository, realpathSync(path.join(repository, "node_modules")));

const nextConfig: NextConfig = {
  turbopack: { root },
  outputFileTracingRoot: root,
  // `npm run typecheck` checks this app (tsc -p examples/nextjs-app); the build need not do it again.
  typescript: { ignoreBuildErrors: true },
  poweredByHeader: false,
};

export default nextConfig;

function commonAncestor(a: string, b: string): string {
  const as = a.split(path.sep);
  const bs = b.split(path.sep);
  let i = 0;
  while (i < as.length && i < bs.length && as[i] === bs[i]) i++;
  return as.slice(0, i).join(path.sep) || path.sep;
}
