// A stand-in for a Convex deployment, for apps that call it over HTTP from a server (ConvexHttpClient,
// and convex/nextjs's fetchQuery and preloadQuery, which use it): POST /api/query, as the real
// backend answers it. The bearer token is checked with the strict Convex verifier against the
// given auth.config providers, and the query named by `path` runs for real, through convex-test,
// over the functions in convex/ with the identity the token yields. No Convex backend runs here,
// and the browser's sync protocol (a WebSocket) is not spoken: a ConvexReactClient pointed here
// stays disconnected.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { convexTest } from "convex-test";
import { makeFunctionReference, type UserIdentity } from "convex/server";
import { convexToJson, jsonToConvex, type JSONValue } from "convex/values";
import schema from "../../convex/schema.ts";
import { modules } from "../../convex/test.setup.ts";
import { ConvexAuthError, verifyConvexToken, type AuthProvider, type ConvexIdentity } from "./convex-verifier.ts";

export type StandInCall = {
  path: string;
  /** The bearer token sent, if any, and the identity it was verified as. */
  token: string | undefined;
  identity: ConvexIdentity | null;
};

export type ConvexStandIn = {
  url: string;
  /** Every query that ran, in order (refused tokens and bad requests are not calls). */
  calls: StandInCall[];
  close(): Promise<void>;
};

/** What Convex answers when a function throws (convex/browser's STATUS_CODE_UDF_FAILED). */
const UDF_FAILED = 560;

export async function startConvexStandIn(providers: AuthProvider[]): Promise<ConvexStandIn> {
  // One deployment: its tables live as long as the stand-in.
  const deployment = convexTest(schema, modules);
  const calls: StandInCall[] = [];

  async function answer(request: http.IncomingMessage): Promise<{ status: number; body: unknown }> {
    if (request.method !== "POST" || request.url !== "/api/query") return { status: 404, body: "Not found" };
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readBody(request));
    } catch {
      return { status: 400, body: { code: "BadJsonBody", message: "The body is not JSON" } };
    }
    const { path, args, format } = (parsed ?? {}) as { path?: unknown; args?: unknown; format?: unknown };
    if (typeof path !== "string" || !/^[\w/]+(:\w+)?$/.test(path) || format !== "convex_encoded_json") {
      return { status: 400, body: { code: "BadRequest", message: "Expected { path, args, format: convex_encoded_json }" } };
    }
    if (!Array.isArray(args) || args.length !== 1 || typeof args[0] !== "object" || args[0] === null) {
      return { status: 400, body: { code: "BadRequest", message: "args must be [ { ...arguments } ]" } };
    }
    const authorization = request.headers.authorization;
    let token: string | undefined;
    let identity: ConvexIdentity | null = null;
    if (authorization !== undefined) {
      if (!authorization.startsWith("Bearer ")) return { status: 401, body: { code: "Unauthenticated", message: "Bearer token expected" } };
      token = authorization.slice("Bearer ".length);
      try {
        identity = await verifyConvexToken(token, providers);
      } catch (error) {
        if (error instanceof ConvexAuthError) return { status: 401, body: { code: "Unauthenticated", message: error.message } };
        throw error;
      }
    }
    calls.push({ path, token, identity });
    const query = makeFunctionReference<"query">(path);
    const fnArgs = jsonToConvex(args[0] as JSONValue) as Record<string, never>;
    try {
      const value = await (identity ? deployment.withIdentity(identity as Partial<UserIdentity>).query(query, fnArgs) : deployment.query(query, fnArgs));
      return { status: 200, body: { status: "success", value: convexToJson(value as never), logLines: [] } };
    } catch (error) {
      const data = (error as { data?: unknown }).data;
      return {
        status: UDF_FAILED,
        body: {
          status: "error",
          errorMessage: error instanceof Error ? error.message : String(error),
          ...(data !== undefined ? { errorData: convexToJson(data as never) } : {}),
          logLines: [],
        },
      };
    }
  }

  const server = http.createServer((request, response) => {
    answer(request).then(
      ({ status, body }) => {
        response.writeHead(status, { "content-type": typeof body === "string" ? "text/plain" : "application/json" });
        response.end(typeof body === "string" ? body : JSON.stringify(body));
      },
      () => response.writeHead(500, { "content-type": "text/plain" }).end("Internal error"),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

async function readBody(request: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 1_000_000) throw new Error("body too large");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}
