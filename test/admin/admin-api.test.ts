// The admin API against a listening IdP on PostgreSQL, called with real service tokens from the
// client_credentials grant (openid-client): every route with and without its scope (403 naming it,
// in the body and WWW-Authenticate), bad input (400 naming the field, nothing changed), pagination
// under concurrent inserts, the OpenAPI document, and the same action through the CLI and the API
// leaving the same audit row.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as oidc from "openid-client";
import { Ajv } from "ajv";
import pg from "pg";
import { startTestIdp, type TestIdp } from "../support/idp.ts";
import { discover, exchange, signIn, startAuthorization, REDIRECT_URI } from "../support/oidc-flow.ts";
import { Browser } from "../support/browser.ts";
import { ADMIN_SCOPES, type AdminScope } from "../../idp/accounts/operator.ts";
import { cliOk } from "../audit/run-cli.ts";

let idp: TestIdp;
let opsSecret: string;
const API = "/admin/api/v1";

beforeAll(async () => {
  idp = await startTestIdp();
  opsSecret = (await idp.admin.addClient({ id: "ops", service: true, public: false, firstParty: false, redirectUris: [], scopes: [...ADMIN_SCOPES] })).secret!;
  await idp.admin.addClient({ id: "web", public: true, firstParty: true, redirectUris: [REDIRECT_URI] });
});
afterAll(async () => idp?.close());

/** A service token of "ops" with exactly these scopes (narrowed at the token endpoint). */
async function token(scopes: readonly string[]): Promise<string> {
  const ops = await discover(idp.issuer, "ops", opsSecret);
  const granted = await oidc.clientCredentialsGrant(ops, scopes.length ? { scope: scopes.join(" ") } : undefined);
  return granted.access_token;
}

type Answer = { status: number; body: any; headers: Headers };
async function call(method: string, path: string, bearer: string | undefined, body?: unknown): Promise<Answer> {
  const response = await fetch(`${idp.baseUrl}${path}`, {
    method,
    headers: { ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers };
}

let counter = 0;
const newUser = async (roles: string[] = []) =>
  idp.admin.addUser({ email: `user${++counter}-${Date.now()}@example.com`, password: "a long enough password", roles, emailVerified: true });

type RouteCase = { method: string; scope: AdminScope; status: number; prepare: () => Promise<{ path: string; body?: unknown }> };

const ROUTES: Record<string, RouteCase> = {
  "list users": { method: "GET", scope: "admin:users:read", status: 200, prepare: async () => ({ path: `${API}/users` }) },
  "create user": {
    method: "POST",
    scope: "admin:users:write",
    status: 201,
    prepare: async () => ({ path: `${API}/users`, body: { email: `created${++counter}@example.com`, password: "a long enough password", roles: ["editor"] } }),
  },
  "show user": { method: "GET", scope: "admin:users:read", status: 200, prepare: async () => ({ path: `${API}/users/${(await newUser()).id}` }) },
  "update profile": { method: "PATCH", scope: "admin:users:write", status: 200, prepare: async () => ({ path: `${API}/users/${(await newUser()).id}`, body: { name: "New Name" } }) },
  "disable user": { method: "POST", scope: "admin:users:write", status: 200, prepare: async () => ({ path: `${API}/users/${(await newUser()).id}/disable` }) },
  "enable user": { method: "POST", scope: "admin:users:write", status: 200, prepare: async () => ({ path: `${API}/users/${(await newUser()).id}/enable` }) },
  "unlock user": { method: "POST", scope: "admin:users:write", status: 200, prepare: async () => ({ path: `${API}/users/${(await newUser()).id}/unlock` }) },
  "reset factors": { method: "POST", scope: "admin:users:write", status: 200, prepare: async () => ({ path: `${API}/users/${(await newUser()).id}/reset-factors` }) },
  "set roles": { method: "PUT", scope: "admin:users:write", status: 200, prepare: async () => ({ path: `${API}/users/${(await newUser()).id}/roles`, body: { roles: ["editor"] } }) },
  "revoke sessions": { method: "POST", scope: "admin:sessions:revoke", status: 200, prepare: async () => ({ path: `${API}/users/${(await newUser()).id}/revoke-sessions` }) },
  "list clients": { method: "GET", scope: "admin:clients", status: 200, prepare: async () => ({ path: `${API}/clients` }) },
  "create client": {
    method: "POST",
    scope: "admin:clients",
    status: 201,
    prepare: async () => ({ path: `${API}/clients`, body: { id: `app-${++counter}`, redirect_uris: ["https://app.example.com/callback"] } }),
  },
  "update redirect URIs": {
    method: "PUT",
    scope: "admin:clients",
    status: 200,
    prepare: async () => {
      const id = `app-${++counter}`;
      await idp.admin.addClient({ id, public: true, firstParty: false, redirectUris: ["https://a.example.com/cb"] });
      return { path: `${API}/clients/${id}/redirect-uris`, body: { redirect_uris: ["https://b.example.com/cb"] } };
    },
  },
  "remove client": {
    method: "DELETE",
    scope: "admin:clients",
    status: 204,
    prepare: async () => {
      const id = `app-${++counter}`;
      await idp.admin.addClient({ id, public: true, firstParty: false, redirectUris: ["https://a.example.com/cb"] });
      return { path: `${API}/clients/${id}` };
    },
  },
  "list keys": { method: "GET", scope: "admin:keys", status: 200, prepare: async () => ({ path: `${API}/keys` }) },
  "rotate key": { method: "POST", scope: "admin:keys", status: 201, prepare: async () => ({ path: `${API}/keys/rotate`, body: {} }) },
  "query audit": { method: "GET", scope: "admin:audit:read", status: 200, prepare: async () => ({ path: `${API}/audit?limit=5` }) },
};

describe("every route and its scope", () => {
  for (const [name, route] of Object.entries(ROUTES)) {
    it(`${name}: ${route.status} with ${route.scope}, 403 naming it without`, async () => {
      const others = ADMIN_SCOPES.filter((scope) => scope !== route.scope);
      const refused = await route.prepare();
      const without = await call(route.method, refused.path, await token(others), refused.body);
      expect(without.status).toBe(403);
      expect(without.body).toEqual({ error: "insufficient_scope", error_description: `this request needs the scope ${route.scope}` });
      expect(without.headers.get("www-authenticate")).toBe(`Bearer error="insufficient_scope", scope="${route.scope}"`);

      const allowed = await route.prepare();
      const answer = await call(route.method, allowed.path, await token([route.scope]), allowed.body);
      expect(answer.status, JSON.stringify(answer.body)).toBe(route.status);
      expect(answer.headers.get("cache-control")).toBe("no-store");
    });
  }

  it("every route is in the table above", async () => {
    const document = (await call("GET", "/admin/api/openapi.json", undefined)).body;
    const operations = Object.values(document.paths as Record<string, object>).flatMap((item) => Object.keys(item));
    expect(operations).toHaveLength(Object.keys(ROUTES).length);
  });
});

describe("authentication", () => {
  it("401 with a challenge without a token, with a bad one, or with a person's access token", async () => {
    const none = await call("GET", `${API}/users`, undefined);
    expect(none.status).toBe(401);
    expect(none.body.error).toBe("invalid_token");
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer error="invalid_token"/);
    expect((await call("GET", `${API}/users`, "not.a.jwt")).status).toBe(401);

    const user = await newUser(["admin"]);
    const web = await discover(idp.issuer, "web");
    const start = await startAuthorization(web);
    const page = await signIn(new Browser(), start, { email: user.email, password: "a long enough password" });
    const tokens = await exchange(web, start, page.url);
    expect((await call("GET", `${API}/users`, tokens.access_token)).status).toBe(401);
    expect((await call("GET", `${API}/users`, tokens.id_token)).status).toBe(401);
  });

  it("a token stops working when its client is removed, and loses a scope the client no longer holds", async () => {
    const secret = (await idp.admin.addClient({ id: "temp-bot", service: true, public: false, firstParty: false, redirectUris: [], scopes: ["admin:users:read"] })).secret!;
    const bot = await oidc.clientCredentialsGrant(await discover(idp.issuer, "temp-bot", secret));
    expect((await call("GET", `${API}/users`, bot.access_token)).status).toBe(200);
    await idp.admin.removeClient("temp-bot");
    expect((await call("GET", `${API}/users`, bot.access_token)).status).toBe(401);
  });
});

describe("bad input", () => {
  it("400 naming the field, and nothing changes", async () => {
    const write = await token(["admin:users:write", "admin:users:read", "admin:clients"]);
    const before = (await call("GET", `${API}/audit?limit=1`, await token(["admin:audit:read"]))).body.events[0].id;

    const badEmail = await call("POST", `${API}/users`, write, { email: "not an email", password: "a long enough password" });
    expect(badEmail.status).toBe(400);
    expect(badEmail.body.error).toBe("invalid_request");
    expect(badEmail.body.error_description).toMatch(/body\/email/);

    const unknownField = await call("POST", `${API}/users`, write, { email: "x@example.com", password: "a long enough password", admin: true });
    expect(unknownField.status).toBe(400);
    expect(unknownField.body.error_description).toMatch(/^body must NOT have additional properties/);
    expect(await idp.admin.users.findByEmail("x@example.com")).toBeUndefined();

    const weak = await call("POST", `${API}/users`, write, { email: "weak@example.com", password: "password" });
    expect(weak.status).toBe(400);
    expect(await idp.admin.users.findByEmail("weak@example.com")).toBeUndefined();

    const user = await newUser();
    const badRole = await call("PUT", `${API}/users/${user.id}/roles`, write, { roles: ["Not A Role"] });
    expect(badRole.status).toBe(400);
    expect(badRole.body.error_description).toMatch(/body\/roles/);
    expect((await idp.admin.users.findById(user.id))!.roles).toEqual([]);

    const emptyPatch = await call("PATCH", `${API}/users/${user.id}`, write, {});
    expect(emptyPatch.status).toBe(400);
    expect(emptyPatch.body.error_description).toMatch(/body/);

    const badUri = await call("POST", `${API}/clients`, write, { id: "bad-app", redirect_uris: ["http://evil.example.com/cb"] });
    expect(badUri.status).toBe(400);
    expect(badUri.body.error_description).toMatch(/https/);
    expect(await idp.admin.clients.find("bad-app")).toBeUndefined();

    const badLimit = await call("GET", `${API}/users?limit=100000`, write);
    expect(badLimit.status).toBe(400);
    expect(badLimit.body.error_description).toMatch(/querystring\/limit/);

    const badCursor = await call("GET", `${API}/users?cursor=AAAA`, write);
    expect(badCursor.status).toBe(400);
    expect(badCursor.body.error_description).toMatch(/cursor/);

    expect((await call("GET", `${API}/users/no-such-user`, write)).status).toBe(404);
    expect((await call("POST", `${API}/users`, write, { email: user.email, password: "a long enough password" })).status).toBe(409);

    // Only the users this test added (with the operator, audited as cli) were recorded.
    const after = (await call("GET", `${API}/audit?limit=50`, await token(["admin:audit:read"]))).body.events as { id: string; actor: string }[];
    expect(after.filter((event) => BigInt(event.id) > BigInt(before) && event.actor !== "cli")).toEqual([]);
  });
});

describe("users pagination", () => {
  it("never skips or repeats a user while others are added concurrently", async () => {
    const marker = `page${Date.now()}`;
    // A transaction that began before the listing adds a user (created_at: its start) and commits
    // in the middle of it: the row appears before the cursor, where an offset would shift every
    // later page and repeat a user.
    const early = new pg.Client({ connectionString: idp.database.url });
    await early.connect();
    await early.query("BEGIN");
    await early.query("INSERT INTO users (id, email) VALUES (gen_random_uuid()::text, $1)", [`${marker}-early@example.com`]);
    const initial = new Set<string>();
    for (let i = 0; i < 23; i++) initial.add((await idp.admin.addUser({ email: `${marker}-${i}@example.com`, password: "a long enough password" })).id);
    const read = await token(["admin:users:read"]);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    try {
      do {
        // Each page is fetched while new matching users are being inserted.
        const query: string = `search=${marker}&limit=4${cursor ? `&cursor=${cursor}` : ""}`;
        const [page] = await Promise.all([
          call("GET", `${API}/users?${query}`, read),
          idp.admin.addUser({ email: `${marker}-late-${pages}@example.com`, password: "a long enough password" }),
          ...(pages === 2 ? [early.query("COMMIT")] : []),
        ]);
        expect(page.status).toBe(200);
        seen.push(...page.body.users.map((user: { id: string }) => user.id));
        cursor = page.body.next_cursor;
        pages++;
      } while (cursor);
    } finally {
      await early.end();
    }
    expect(new Set(seen).size).toBe(seen.length);
    for (const id of initial) expect(seen).toContain(id);
    expect(pages).toBeGreaterThan(6);
  });

  it("search matches part of the email or the name", async () => {
    const read = await token(["admin:users:read"]);
    await idp.admin.addUser({ email: "zebra.finder@example.com", name: "Quokka Person", password: "a long enough password" });
    expect((await call("GET", `${API}/users?search=ZEBRA`, read)).body.users.map((u: { email: string }) => u.email)).toEqual(["zebra.finder@example.com"]);
    expect((await call("GET", `${API}/users?search=quokka`, read)).body.users.map((u: { email: string }) => u.email)).toEqual(["zebra.finder@example.com"]);
  });
});

describe("the audit trail", () => {
  it("records each API change with the actor client:<id>, its target and what changed; filters and pages", async () => {
    const user = await newUser(["viewer"]);
    const write = await token(["admin:users:write"]);
    await call("PUT", `${API}/users/${user.id}/roles`, write, { roles: ["editor", "viewer"] });
    const read = await token(["admin:audit:read"]);
    const events = (await call("GET", `${API}/audit?user_id=${user.id}&event=user.roles_changed`, read)).body.events;
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ actor: "client:ops", user_id: user.id, email: user.email, details: { roles: "editor,viewer", added: "editor", removed: "" } });

    const all: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Answer = await call("GET", `${API}/audit?actor=client:ops&limit=3${cursor ? `&cursor=${cursor}` : ""}`, read);
      all.push(...page.body.events.map((event: { id: string }) => event.id));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(new Set(all).size).toBe(all.length);
    expect(all.length).toBeGreaterThan(3);
  });

  it("the same action through the CLI and the API leaves the same row, but for the actor", async () => {
    const env = { DATABASE_URL: idp.database.url!, KEYS_DIR: idp.config.keysDir };
    const viaCli = await newUser();
    const viaApi = await newUser();
    await cliOk(["users", "disable", viaCli.email], env);
    await cliOk(["users", "roles", viaCli.email, "--add", "editor,billing"], env);
    // A lost device: `idp users reset-mfa` and the API's reset-factors are one operator action.
    for (const user of [viaCli, viaApi]) {
      await idp.database.db.query("INSERT INTO totp_factors (user_id, sealed_secret, confirmed_at) VALUES ($1, $2, now())", [user.id, Buffer.from("sealed")]);
      for (let i = 0; i < 2; i++) await idp.database.db.query("INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, now())", [user.id, Buffer.from(`${user.id}-${i}`)]);
    }
    await cliOk(["users", "reset-mfa", viaCli.email], env);
    const write = await token(["admin:users:write"]);
    expect((await call("POST", `${API}/users/${viaApi.id}/disable`, write)).status).toBe(200);
    expect((await call("PUT", `${API}/users/${viaApi.id}/roles`, write, { roles: ["billing", "editor"] })).status).toBe(200);
    expect((await call("POST", `${API}/users/${viaApi.id}/reset-factors`, write)).status).toBe(200);

    const read = await token(["admin:audit:read"]);
    const rows = async (userId: string) => (await call("GET", `${API}/audit?user_id=${userId}`, read)).body.events.filter((e: { event: string }) => e.event !== "user.created");
    const shape = (event: { event: string; actor: string; user_id: string; email: string; details: Record<string, unknown> }, target: { id: string; email: string }) => {
      const { os_user: _osUser, ...details } = event.details;
      return { ...event, id: undefined, occurred_at: undefined, actor: event.actor.split(":")[0], user_id: event.user_id === target.id, email: event.email === target.email, details };
    };
    const cliRows = (await rows(viaCli.id)).map((event: any) => shape(event, viaCli));
    const apiRows = (await rows(viaApi.id)).map((event: any) => shape(event, viaApi));
    expect(cliRows.map((row: any) => row.event)).toEqual(["user.factors_reset", "mfa.reset", "user.roles_changed", "user.disabled"]);
    expect(cliRows.map((row: any) => row.actor)).toEqual(["cli", "cli", "cli", "cli"]);
    expect(apiRows.map((row: any) => row.actor)).toEqual(["client", "client", "client", "client"]);
    expect(cliRows.map((row: any) => ({ ...row, actor: undefined }))).toEqual(apiRows.map((row: any) => ({ ...row, actor: undefined })));
  }, 120_000);
});

describe("resetting factors", () => {
  it("removes the authenticator app and recovery codes, signs the person out, and records both changes", async () => {
    const user = await newUser();
    await idp.database.db.query("INSERT INTO totp_factors (user_id, sealed_secret, confirmed_at) VALUES ($1, $2, now())", [user.id, Buffer.from("sealed")]);
    for (let i = 0; i < 3; i++) await idp.database.db.query("INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, now())", [user.id, Buffer.from(`code${i}`)]);
    const answer = await call("POST", `${API}/users/${user.id}/reset-factors`, await token(["admin:users:write"]));
    expect(answer.status).toBe(200);
    expect(answer.body.reset).toEqual({ second_factors: 4, passkeys: 0 });
    const left = await idp.database.db.query("SELECT 1 FROM totp_factors WHERE user_id = $1 UNION ALL SELECT 1 FROM recovery_codes WHERE user_id = $1", [user.id]);
    expect(left.rowCount).toBe(0);
    const events = (await call("GET", `${API}/audit?user_id=${user.id}`, await token(["admin:audit:read"]))).body.events as { event: string; actor: string }[];
    expect(events.filter((event) => event.event !== "user.created").map(({ event, actor }) => ({ event, actor }))).toEqual([
      { event: "user.factors_reset", actor: "client:ops" },
      { event: "mfa.reset", actor: "client:ops" },
    ]);
  });
});

describe("creating", () => {
  it("a client: its secret once, in the answer; a service client with scopes", async () => {
    // Only scopes the caller holds itself: admin:clients alone cannot mint an auditor.
    const refused = await call("POST", `${API}/clients`, await token(["admin:clients"]), { id: "reports-bot", kind: "service", scopes: ["admin:audit:read"] });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toBe("insufficient_scope");
    expect(refused.headers.get("www-authenticate")).toContain('scope="admin:audit:read"');
    expect(await idp.admin.clients.find("reports-bot")).toBeUndefined();
    const clientsToken = await token(["admin:clients", "admin:audit:read"]);
    const created = await call("POST", `${API}/clients`, clientsToken, { id: "reports-bot", kind: "service", scopes: ["admin:audit:read"] });
    expect(created.status).toBe(201);
    expect(created.body.client).toMatchObject({ id: "reports-bot", kind: "service", confidential: true, scopes: ["admin:audit:read"] });
    expect(created.body.client_secret).toMatch(/^.{32,}$/);
    const listed = (await call("GET", `${API}/clients`, clientsToken)).body.clients.find((c: { id: string }) => c.id === "reports-bot");
    expect(JSON.stringify(listed)).not.toContain(created.body.client_secret);
    // The secret works, and the token it gets holds what the client was given.
    const bot = await oidc.clientCredentialsGrant(await discover(idp.issuer, "reports-bot", created.body.client_secret));
    expect((await call("GET", `${API}/audit?limit=1`, bot.access_token)).status).toBe(200);
    expect((await call("GET", `${API}/users`, bot.access_token)).status).toBe(403);
  });

  it("a user without a password needs invitations (SIGN_UP=off here): 400 naming body/password, nobody created", async () => {
    const answer = await call("POST", `${API}/users`, await token(["admin:users:write"]), { email: "invitee@example.com", roles: ["editor"] });
    expect(answer.status).toBe(400);
    expect(answer.body.error_description).toMatch(/body\/password is required/);
    expect(await idp.admin.users.findByEmail("invitee@example.com")).toBeUndefined();
  });
});

describe("the OpenAPI document", () => {
  it("is public, OpenAPI 3, and has every /admin/api route with its scope, schemas and answers", async () => {
    const answer = await call("GET", "/admin/api/openapi.json", undefined);
    expect(answer.status).toBe(200);
    const document = answer.body;
    expect(document.openapi).toMatch(/^3\.0\.\d+$/);
    expect(document.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(document.components.securitySchemes.serviceToken.type).toBe("oauth2");
    const declaredScopes = Object.keys(document.components.securitySchemes.serviceToken.flows.clientCredentials.scopes);
    expect(declaredScopes.sort()).toEqual([...ADMIN_SCOPES].sort());

    // Every route Fastify registered under /admin/api/v1 (from its own route table), in the document.
    const registered: string[] = [];
    const stack: string[] = [];
    for (const line of idp.app.printRoutes({ commonPrefix: false }).split("\n")) {
      const match = /^([│ ]*)[├└]── (\S+)(?: \(([^)]+)\))?/.exec(line);
      if (!match) continue;
      const depth = [...match[1]!].length / 4;
      stack.length = depth;
      stack.push(match[2]!);
      const path = stack.join("");
      if (!match[3] || !path.startsWith(`${API}/`)) continue;
      for (const method of match[3].split(", ")) if (method !== "HEAD") registered.push(`${method} ${path.replace(/:(\w+)/g, "{$1}")}`);
    }
    const documented = Object.entries(document.paths as Record<string, Record<string, unknown>>).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(registered.length).toBe(Object.keys(ROUTES).length);
    expect(documented.sort()).toEqual(registered.sort());
    expect(documented.some((entry) => entry.includes("openapi.json"))).toBe(false);

    const ajv = new Ajv({ strict: false });
    for (const [path, item] of Object.entries(document.paths as Record<string, Record<string, any>>)) {
      expect(path.startsWith("/admin/api/v1/")).toBe(true);
      for (const [method, operation] of Object.entries(item)) {
        expect(["get", "post", "put", "patch", "delete"]).toContain(method);
        expect(operation.summary, `${method} ${path}`).toBeTruthy();
        expect(operation.security).toHaveLength(1);
        expect(ADMIN_SCOPES).toContain(operation.security[0].serviceToken[0]);
        expect(Object.keys(operation.responses)).toEqual(expect.arrayContaining(["401", "403"]));
        for (const name of [...path.matchAll(/\{(\w+)\}/g)].map((match) => match[1])) {
          expect(operation.parameters.some((parameter: { in: string; name: string; required: boolean }) => parameter.in === "path" && parameter.name === name && parameter.required)).toBe(true);
        }
        const schemas = [
          ...(operation.parameters ?? []).map((parameter: { schema: object }) => parameter.schema),
          operation.requestBody?.content["application/json"].schema,
          ...Object.values(operation.responses as Record<string, { content?: Record<string, { schema: object }> }>).map((response) => response.content?.["application/json"]?.schema),
        ].filter(Boolean);
        for (const schema of schemas) expect(() => ajv.compile(schema), `${method} ${path}`).not.toThrow();
      }
    }
  });
});
