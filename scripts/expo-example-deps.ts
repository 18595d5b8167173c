// Installs examples/expo-app's own dependencies (Expo, React Native) when they are missing or older
// than its lock, so `npm run typecheck` can check the app. They live apart from the root's: they
// would add about 300 MB and 300 packages to every `npm ci`, and Expo pins its own React version.
// --ignore-scripts: type-checking needs no native build step.
import { execFileSync } from "node:child_process";
import { statSync } from "node:fs";
import { fileURLToPath } from "node:url";

const app = fileURLToPath(new URL("../examples/expo-app/", import.meta.url));
const mtime = (path: string) => statSync(path, { throwIfNoEntry: false })?.mtimeMs;

const lock = mtime(`${app}package-lock.json`)!;
const installed = mtime(`${app}node_modules/.package-lock.json`);
if (installed === undefined || installed < lock) {
  console.log("typecheck: installing examples/expo-app's dependencies (npm ci --ignore-scripts)");
  execFileSync("npm", ["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: app, stdio: "inherit" });
}
