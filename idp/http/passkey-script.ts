// The sign-in page's passkey script (assets/passkey-sign-in.js), read once at start and served
// under /assets/ with a URL that changes with its content, like the ALTCHA widget: the page's
// policy admits scripts from the IdP only (`script-src 'self'`), never inline ones.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { FastifyInstance } from "fastify";

const SCRIPT_PATH = "/assets/passkey-sign-in.js";

export type PasskeyScript = { path: string; href: string; body: string };

export async function loadPasskeyScript(): Promise<PasskeyScript> {
  const body = await readFile(new URL("./assets/passkey-sign-in.js", import.meta.url), "utf8");
  return { path: SCRIPT_PATH, body, href: `${SCRIPT_PATH}?v=${createHash("sha256").update(body).digest("base64url").slice(0, 12)}` };
}

export function passkeyScriptRoute(app: FastifyInstance, script: PasskeyScript): void {
  app.get(script.path, async (_request, reply) =>
    reply.type("text/javascript; charset=utf-8").header("Cache-Control", "public, max-age=86400").send(script.body),
  );
}
