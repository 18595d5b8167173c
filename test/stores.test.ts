// The user and client stores and the operator actions on them (accounts/operator.ts), against PostgreSQL and the embedded database.
import { createHash } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { InvalidInputError } from "../idp/accounts/operator.ts";
import { createPasswordHasher, type PasswordHasher } from "../idp/accounts/passwords.ts";
import { createClientStore, type ClientStore, type NewClient } from "../idp/store/clients.ts";
import { ConflictError, NotFoundError } from "../idp/store/errors.ts";
import { createOidcPayloadStore } from "../idp/store/oidc-payloads.ts";
import { createUserStore, type UserStore } from "../idp/store/users.ts";
import { testDatabases, type TestDatabase } from "./support/database.ts";
import { createTestOperator, type TestOperator } from "./support/operator.ts";

// Cheap argon2id parameters (OWASP minimum) so the suite stays fast.
const hasher: PasswordHasher = createPasswordHasher({ memoryCost: 19456, timeCost: 2, parallelism: 1 });

const publicClient: NewClient = {
  id: "spa",
  name: "SPA",
  secretHash: null,
  redirectUris: ["http://localhost:5173/cb"],
  postLogoutRedirectUris: ["http://localhost:5173/"],
  firstParty: true,
};

describe.each(testDatabases)("stores ($kind)", ({ create }) => {
  let database: TestDatabase;
  let users: UserStore;
  let clients: ClientStore;
  let admin: TestOperator;

  const count = async (table: string) =>
    Number((await database.db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);
  const payloadIds = async () =>
    (await database.db.query<{ id: string }>("SELECT id FROM oidc_payloads ORDER BY id")).rows.map((r) => r.id);

  beforeAll(async () => {
    database = await create();
    users = createUserStore(database.db);
    clients = createClientStore(database.db);
    admin = createTestOperator(database.db, { hasher });
  });

  afterAll(async () => {
    await admin?.close();
    await database?.destroy();
  });

  beforeEach(async () => {
    await database.db.query("DELETE FROM oidc_payloads");
    await database.db.query("DELETE FROM clients");
    await database.db.query("DELETE FROM users");
  });

  describe("users", () => {
    it("create stores the user with defaults and returns it", async () => {
      const user = await users.create({ email: "Alice@Example.com", name: "Alice", passwordHash: "h1" });
      expect(user).toMatchObject({
        email: "Alice@Example.com", // stored as given; only matching ignores case
        emailVerified: false,
        name: "Alice",
        picture: null,
        passwordHash: "h1",
        disabled: false,
      });
      expect(user.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(await users.findById(user.id)).toEqual(user);
    });

    it("email uniqueness ignores case", async () => {
      await users.create({ email: "Alice@Example.com" });
      await expect(users.create({ email: "alice@example.COM" })).rejects.toBeInstanceOf(ConflictError);
      expect(await count("users")).toBe(1);
    });

    it("findByEmail ignores case", async () => {
      const user = await users.create({ email: "Alice@Example.com" });
      expect((await users.findByEmail("ALICE@example.com"))?.id).toBe(user.id);
      expect(await users.findByEmail("bob@example.com")).toBeUndefined();
    });

    it("setDisabled matches the email case-insensitively and throws NotFoundError for an unknown email", async () => {
      const user = await users.create({ email: "alice@example.com" });
      await expect(users.setDisabled("nobody@example.com", true)).rejects.toBeInstanceOf(NotFoundError);
      expect((await users.findById(user.id))?.disabled).toBe(false);

      expect((await users.setDisabled("ALICE@example.com", true)).disabled).toBe(true);
      expect((await users.findById(user.id))?.disabled).toBe(true);
    });

    it("upgradePasswordHash replaces the hash only when the previous one still matches", async () => {
      const user = await users.create({ email: "alice@example.com", passwordHash: "h1" });
      // A concurrent password change already replaced h1: the upgrade must not overwrite it.
      await users.upgradePasswordHash(user.id, "stale", "h2");
      expect((await users.findById(user.id))?.passwordHash).toBe("h1");

      await users.upgradePasswordHash(user.id, "h1", "h2");
      expect((await users.findById(user.id))?.passwordHash).toBe("h2");
    });

    it("markEmailVerified says whether it changed anything, moves updated_at only then, and throws NotFoundError for an unknown id", async () => {
      const user = await users.create({ email: "alice@example.com" });
      expect(await users.markEmailVerified(user.id)).toBe(true);
      const marked = (await users.findById(user.id))!;
      expect(marked.emailVerified).toBe(true);
      expect(await users.markEmailVerified(user.id)).toBe(false);
      expect((await users.findById(user.id))!.updatedAt).toEqual(marked.updatedAt);
      await expect(users.markEmailVerified("no-such-id")).rejects.toBeInstanceOf(NotFoundError);
    });
  });

  describe("clients", () => {
    it("create, find, list and remove", async () => {
      const created = await clients.create(publicClient);
      expect(created).toMatchObject(publicClient);
      expect(created.createdAt).toBeInstanceOf(Date);
      expect(await clients.find("spa")).toEqual(created);
      expect(await clients.find("nope")).toBeUndefined();

      await clients.create({ ...publicClient, id: "api", secretHash: "ab".repeat(32), firstParty: false });
      expect((await clients.list()).map((c) => c.id)).toEqual(["api", "spa"]); // ordered by id

      await clients.remove("spa");
      expect(await clients.find("spa")).toBeUndefined();
      expect((await clients.list()).map((c) => c.id)).toEqual(["api"]);
    });

    it("a duplicate id is a ConflictError", async () => {
      await clients.create(publicClient);
      await expect(clients.create({ ...publicClient, name: "Other" })).rejects.toBeInstanceOf(ConflictError);
      expect((await clients.find("spa"))?.name).toBe("SPA");
    });

    it("removing an unknown client is a NotFoundError", async () => {
      await expect(clients.remove("nope")).rejects.toBeInstanceOf(NotFoundError);
    });

    it("keeps a logo URI, null when none was given, and refuses one longer than 2048 characters (migration 007)", async () => {
      expect((await clients.create(publicClient)).logoUri).toBeNull();
      const logoUri = "https://cdn.example.com/logo.svg";
      await clients.create({ ...publicClient, id: "branded", logoUri });
      expect((await clients.find("branded"))?.logoUri).toBe(logoUri);
      expect((await clients.list()).map((c) => [c.id, c.logoUri])).toEqual([
        ["branded", logoUri],
        ["spa", null],
      ]);
      // The database holds the limit too, for any writer that skips the operator's validation.
      await expect(clients.create({ ...publicClient, id: "huge", logoUri: `https://cdn.example.com/${"a".repeat(2030)}` })).rejects.toThrow(
        /clients_logo_uri_length/,
      );
      expect(await clients.find("huge")).toBeUndefined();
    });
  });

  describe("operator", () => {
    it("addUser hashes the password with argon2id", async () => {
      const user = await admin.addUser({ email: " carol@example.com ", name: "Carol", password: "correct horse" });
      expect(user.email).toBe("carol@example.com"); // trimmed
      expect(user.passwordHash).toMatch(/^\$argon2id\$/);
      expect(await hasher.verify(user.passwordHash!, "correct horse")).toBe(true);
    });

    it("addUser rejects a short password or a bad email and writes nothing", async () => {
      await expect(admin.addUser({ email: "bob@example.com", password: "short" })).rejects.toBeInstanceOf(InvalidInputError);
      await expect(admin.addUser({ email: "not-an-email", password: "long enough password" })).rejects.toBeInstanceOf(
        InvalidInputError,
      );
      expect(await count("users")).toBe(0);
    });

    it("addClient rejects a redirect URI with a fragment or non-local http, and writes nothing", async () => {
      const base = { id: "app", redirectUris: [], public: true, firstParty: false };
      await expect(admin.addClient({ ...base, redirectUris: ["https://app.example.com/cb#frag"] })).rejects.toBeInstanceOf(
        InvalidInputError,
      );
      await expect(admin.addClient({ ...base, redirectUris: ["http://app.example.com/cb"] })).rejects.toBeInstanceOf(
        InvalidInputError,
      );
      // One bad URI among good ones is enough to refuse the client.
      await expect(
        admin.addClient({ ...base, redirectUris: ["https://app.example.com/cb"], postLogoutRedirectUris: ["http://evil.example/"] }),
      ).rejects.toBeInstanceOf(InvalidInputError);
      expect(await count("clients")).toBe(0);
    });

    it("addClient keeps a display name and an https or local http logo URI", async () => {
      const base = { redirectUris: ["https://app.example.com/cb"], public: true, firstParty: false };
      const { client } = await admin.addClient({ ...base, id: "app", name: "  Example App ", logoUri: "https://CDN.example.com/logo.png" });
      expect(client).toMatchObject({ name: "Example App", logoUri: "https://cdn.example.com/logo.png" });
      expect(await clients.find("app")).toMatchObject({ name: "Example App", logoUri: "https://cdn.example.com/logo.png" });
      for (const [id, logoUri] of [
        ["local", "http://localhost:5173/logo.png"],
        ["loopback", "http://127.0.0.1/logo.png"],
        ["ipv6", "http://[::1]:8080/logo.png"],
      ] as const) {
        expect((await admin.addClient({ ...base, id, logoUri })).client.logoUri).toBe(logoUri);
      }
      expect((await admin.addClient({ ...base, id: "plain" })).client).toMatchObject({ name: null, logoUri: null });
    });

    it("addClient refuses a logo URI that is not https (or local http), carries credentials, or is too long, and a bad name", async () => {
      const base = { id: "app", redirectUris: ["https://app.example.com/cb"], public: true, firstParty: false };
      const refusals: [Partial<typeof base> & { name?: string; logoUri?: string }, RegExp][] = [
        [{ logoUri: "http://cdn.example.com/logo.png" }, /must use https/],
        [{ logoUri: "http://localhost.example.com/logo.png" }, /must use https/],
        [{ logoUri: "javascript:alert(1)" }, /must use https/],
        [{ logoUri: "data:image/png;base64,AAAA" }, /must use https/],
        [{ logoUri: "/logo.png" }, /not an absolute URL/],
        [{ logoUri: "" }, /not an absolute URL/],
        [{ logoUri: "https://user:secret@cdn.example.com/logo.png" }, /user name or password/],
        [{ logoUri: "https://token@cdn.example.com/logo.png" }, /user name or password/],
        [{ logoUri: `https://cdn.example.com/${"a".repeat(2049 - "https://cdn.example.com/".length)}` }, /at most 2048/],
        [{ name: "x".repeat(101) }, /at most 100/],
        [{ name: "Evil\u0007App" }, /control characters/],
      ];
      for (const [input, message] of refusals) {
        await expect(admin.addClient({ ...base, ...input }), JSON.stringify(input)).rejects.toThrow(message);
        await expect(admin.addClient({ ...base, ...input })).rejects.toBeInstanceOf(InvalidInputError);
      }
      // Exactly 2048 characters is allowed.
      const longest = `https://cdn.example.com/${"a".repeat(2048 - "https://cdn.example.com/".length)}`;
      expect((await admin.addClient({ ...base, logoUri: longest })).client.logoUri).toBe(longest);
      expect(await count("clients")).toBe(1);
    });

    it("addClient returns no secret for a public client and stores no hash", async () => {
      const { client, secret } = await admin.addClient({
        id: "spa",
        redirectUris: ["http://localhost:3000/cb", "http://127.0.0.1:3000/cb"],
        public: true,
        firstParty: true,
      });
      expect(secret).toBeUndefined();
      expect(client.secretHash).toBeNull();
      expect((await clients.find("spa"))?.secretHash).toBeNull();
    });

    it("addClient returns a secret for a confidential client and stores only its SHA-256", async () => {
      const { client, secret } = await admin.addClient({
        id: "backend",
        redirectUris: ["https://app.example.com/cb"],
        public: false,
        firstParty: false,
      });
      expect(secret).toEqual(expect.any(String));
      expect(secret!.length).toBeGreaterThanOrEqual(43); // 256 bits, base64url
      const expectedHash = createHash("sha256").update(secret!, "utf8").digest("hex");

      const { rows } = await database.db.query<{ secret_hash: string }>("SELECT secret_hash FROM clients WHERE id = 'backend'");
      expect(rows[0]!.secret_hash).toBe(expectedHash);
      expect(rows[0]!.secret_hash).not.toBe(secret);
      expect(client.secretHash).toBe(expectedHash);
      // The plain secret is stored nowhere in the row.
      const row = (await database.db.query("SELECT * FROM clients WHERE id = 'backend'")).rows[0];
      expect(JSON.stringify(row)).not.toContain(secret!);
    });

    describe("removeClient", () => {
      beforeEach(async () => {
        await admin.addClient({ id: "app", redirectUris: ["https://app.example.com/cb"], public: true, firstParty: false });
        await admin.addClient({ id: "other", redirectUris: ["https://other.example.com/cb"], public: true, firstParty: false });
        const payloads = createOidcPayloadStore(database.db);
        await payloads.upsert("Grant", "g-app", { clientId: "app", accountId: "u1" }, 3600);
        await payloads.upsert("AccessToken", "at-app", { clientId: "app", grantId: "g-app" }, 3600);
        await payloads.upsert("Grant", "g-other", { clientId: "other", accountId: "u1" }, 3600);
        await payloads.upsert("AccessToken", "at-other", { clientId: "other", grantId: "g-other" }, 3600);
      });

      it("deletes the client and everything issued to it, and nothing else", async () => {
        await admin.removeClient("app");
        expect(await clients.find("app")).toBeUndefined();
        expect((await clients.list()).map((c) => c.id)).toEqual(["other"]);
        expect(await payloadIds()).toEqual(["at-other", "g-other"]);
      });

      it("runs in one transaction: if revoking the payloads fails, the client is kept", async () => {
        // A test-only trigger makes the second step (deleting payloads) fail after the first succeeded.
        await database.db.query(`
          CREATE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN RAISE EXCEPTION 'deletes refused for this test'; END $$;
          CREATE TRIGGER refuse_delete BEFORE DELETE ON oidc_payloads FOR EACH ROW EXECUTE FUNCTION refuse_delete();`);
        try {
          await expect(admin.removeClient("app")).rejects.toThrow(/deletes refused/);
          expect(await clients.find("app")).toBeDefined();
          expect(await payloadIds()).toEqual(["at-app", "at-other", "g-app", "g-other"]);
        } finally {
          await database.db.query("DROP TRIGGER refuse_delete ON oidc_payloads; DROP FUNCTION refuse_delete()");
        }
      });

      it("an unknown client is a NotFoundError and touches nothing", async () => {
        await expect(admin.removeClient("nope")).rejects.toBeInstanceOf(NotFoundError);
        expect(await count("clients")).toBe(2);
        expect(await payloadIds()).toEqual(["at-app", "at-other", "g-app", "g-other"]);
      });
    });
  });
});
