// Discovery and the JWKS, answered from memory. They are the most requested documents (every
// relying party and every Convex backend fetches them) and they only change when the provider is
// rebuilt (new keys). The first GET for a given Host is answered by oidc-provider as usual and its
// complete response (the provider's headers, the security headers, the body) is kept; later GETs
// for that Host get the same bytes without running the provider, its Koa stack or our other hooks.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { FastifyReply, FastifyRequest } from "fastify";

/** The documents served this way, below the issuer's path. */
export const PUBLIC_DOCUMENTS = ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/jwks"];

/**
 * Documents remembered at once (one per path and Host); beyond that the oldest is forgotten (a caller
 * choosing Host headers cannot grow memory). Only hosts in ALLOWED_HOSTS get this far (host-validation.ts).
 */
const MAX_ENTRIES = 32;

/** Per-response headers: set for each response, never replayed. */
const PER_RESPONSE = new Set(["date", "connection", "keep-alive", "transfer-encoding", "content-length", "x-request-id", "access-control-allow-origin"]);

type Captured = { headers: OutgoingHttpHeaders; body: Buffer };

export type PublicDocumentCache = {
  /** onRequest hook: answers a remembered document, or arranges for this response to be remembered. */
  onRequest(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined>;
  /** Forgets everything (the provider was rebuilt: the JWKS changed). */
  clear(): void;
};

export function createPublicDocumentCache(options: { mount: string; trustProxy: boolean }): PublicDocumentCache {
  const paths = new Set(PUBLIC_DOCUMENTS.map((document) => `${options.mount}${document}`));
  const entries = new Map<string, Captured>();
  let generation = 0;

  // What the provider builds the document from (its URLs come from the request's origin) and what
  // decides the headers (HSTS over https): the Host, or when they are trusted the forwarded headers
  // (a forwarded host replaces the Host, which then plays no part and may be any internal name).
  const keyOf = (path: string, raw: IncomingMessage): string => {
    const { host = "", "x-forwarded-proto": proto = "", "x-forwarded-host": forwardedHost = "" } = raw.headers;
    return options.trustProxy ? `${path}\n${String(forwardedHost) || host}\n${String(proto)}` : `${path}\n${host}`;
  };

  function remember(key: string, response: ServerResponse) {
    const startedIn = generation;
    const end = response.end;
    let streamed = false;
    const write = response.write;
    response.write = function (this: ServerResponse, ...args: Parameters<ServerResponse["write"]>) {
      streamed = true;
      return write.apply(this, args);
    } as ServerResponse["write"];
    response.end = function (this: ServerResponse, ...args: unknown[]) {
      const [chunk] = args;
      const cacheable =
        !streamed &&
        startedIn === generation &&
        response.statusCode === 200 &&
        !response.hasHeader("set-cookie") &&
        (typeof chunk === "string" || Buffer.isBuffer(chunk));
      if (cacheable) {
        const headers: OutgoingHttpHeaders = {};
        for (const [name, value] of Object.entries(response.getHeaders())) if (!PER_RESPONSE.has(name) && value !== undefined) headers[name] = value;
        if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value!);
        entries.set(key, { headers, body: Buffer.from(chunk as string | Buffer) });
      }
      return (end as (...rest: unknown[]) => ServerResponse).apply(this, args);
    } as ServerResponse["end"];
  }

  return {
    async onRequest(request, reply) {
      if (request.method !== "GET") return undefined;
      const raw = request.raw;
      const queryAt = raw.url!.indexOf("?");
      const path = queryAt === -1 ? raw.url! : raw.url!.slice(0, queryAt);
      if (!paths.has(path)) return undefined;
      const key = keyOf(path, raw);
      const found = entries.get(key);
      if (!found) {
        remember(key, reply.raw);
        return undefined;
      }
      // As oidc-provider answers these: readable from any origin (they are public).
      const origin = raw.headers.origin;
      reply.hijack();
      reply.raw.writeHead(200, { ...found.headers, "access-control-allow-origin": origin || "*", "content-length": found.body.length });
      reply.raw.end(found.body);
      return reply;
    },
    clear() {
      generation++;
      entries.clear();
    },
  };
}
