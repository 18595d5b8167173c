// The ALTCHA widget as the IdP serves it, and its challenge route. The page loads one script: the
// package's "external" build (it injects no <style> and builds no blob: workers, so the page CSP
// stays script-src/worker-src/connect-src 'self' with no inline style), with the registration
// of its PBKDF2 worker appended. The worker is a second file the script starts. Both are read
// once at start and served under /assets/ with a URL that changes with their content.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";
import { PROOF_OF_WORK_ALGORITHM } from "../abuse/proof-of-work.ts";
import type { SignUpGuard } from "../abuse/sign-up-guard.ts";

/** Where the widget fetches its challenges. */
export const CHALLENGE_PATH = "/sign-up/challenge";

const SCRIPT_PATH = "/assets/altcha.js";
const WORKER_PATH = "/assets/altcha-pbkdf2.js";

type Asset = { path: string; href: string; body: string };

export type ProofOfWorkWidget = {
  script: Asset;
  worker: Asset;
  /** What the sign-up guard puts in formFields() for the page fragment. */
  scriptHref: string;
  challengeUrl: string;
};

const versioned = (path: string, body: string): Asset => ({
  path,
  body,
  href: `${path}?v=${createHash("sha256").update(body).digest("base64url").slice(0, 12)}`,
});

/** Reads the widget and its worker from the altcha package. */
export async function loadProofOfWorkWidget(): Promise<ProofOfWorkWidget> {
  const widgetFile = fileURLToPath(import.meta.resolve("altcha/external")).replace(/altcha\.js$/, "altcha.min.js");
  const workerFile = fileURLToPath(import.meta.resolve("altcha/workers/pbkdf2"));
  const worker = versioned(WORKER_PATH, await readFile(workerFile, "utf8"));
  // The external build registers no worker of its own: this one, for the one algorithm we issue.
  const registration = `\n;globalThis.$altcha.algorithms.set(${JSON.stringify(PROOF_OF_WORK_ALGORITHM)}, () => new Worker(${JSON.stringify(worker.href)}));\n`;
  const script = versioned(SCRIPT_PATH, (await readFile(widgetFile, "utf8")) + registration);
  return { script, worker, scriptHref: script.href, challengeUrl: CHALLENGE_PATH };
}

/** The widget's two files and the challenge route. Call only when proof of work is on. */
export function proofOfWorkRoutes(app: FastifyInstance, deps: { widget: ProofOfWorkWidget; guard: SignUpGuard }): void {
  const { widget, guard } = deps;
  const cache = "public, max-age=86400";
  for (const asset of [widget.script, widget.worker]) {
    app.get(asset.path, async (_request, reply) => reply.type("text/javascript; charset=utf-8").header("Cache-Control", cache).send(asset.body));
  }
  // A new challenge on every request (never cached: the default no-store); counted by the per-address limit like every request.
  app.get(CHALLENGE_PATH, { schema: { querystring: { type: "object" } } }, async (_request, reply) => {
    const challenge = await guard.challenge();
    if (!challenge) return reply.callNotFound();
    return reply.type("application/json; charset=utf-8").send(challenge);
  });
}
