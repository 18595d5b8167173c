// Runs the real `idp` CLI as a child process for the audit suites (as test/cli.test.ts does).
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = path.join("idp", "cli", "bin.ts");
const TIMEOUT_MS = 30_000;

export type CliResult = { status: number | null; stdout: string; stderr: string };

/** `node idp/cli/bin.ts ...args` with exactly env (plus PATH), input on stdin. */
export function runCli(args: string[], env: Record<string, string>, input = ""): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.stdin.on("error", () => {});
    child.stdin.end(input);
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`idp ${args.join(" ")} did not exit within ${TIMEOUT_MS} ms`));
    }, TIMEOUT_MS);
    child.once("error", reject);
    child.once("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** A run that must succeed. */
export async function cliOk(args: string[], env: Record<string, string>, input?: string): Promise<CliResult> {
  const result = await runCli(args, env, input);
  expect(result.status, `idp ${args.join(" ")} failed:\n${result.stderr}`).toBe(0);
  return result;
}

export const lines = (text: string) => text.split("\n").filter((line) => line !== "");
