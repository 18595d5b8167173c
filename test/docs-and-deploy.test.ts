// Keeps the README and the deployment files true to the code: every setting is documented, and the
// compose file only references settings, files and paths that exist.
import { readFile, access } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { settings } from "../idp/config.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const read = (file: string) => readFile(path.join(root, file), "utf8");
const knownVariables = new Set(Object.values(settings).map((setting) => setting.env));

describe("README", () => {
  it("documents every configuration variable", async () => {
    const readme = await read("README.md");
    for (const env of knownVariables) expect(readme, env).toContain(`| \`${env}\` |`);
  });

  it("gives the two commands", async () => {
    const readme = await read("README.md");
    expect(readme).toContain("npm install && npm start");
    expect(readme).toContain("npm test");
    const scripts = JSON.parse(await read("package.json")).scripts;
    expect(scripts.start).toBeDefined();
    expect(scripts.test).toContain("vitest run");
  });
});

describe("docker-compose.yml", () => {
  it("builds the IdP from a Dockerfile that exists and sets only settings the IdP knows", async () => {
    const compose = parse(await read("docker-compose.yml"));
    const idp = compose.services.idp;
    expect(idp.build).toBe(".");
    await access(path.join(root, "Dockerfile"));
    for (const name of Object.keys(idp.environment)) expect(knownVariables, name).toContain(name);
    expect(idp.depends_on.postgres.condition).toBe("service_healthy");
    expect(idp.environment.DATABASE_URL).toMatch(/@postgres:5432\//);
  });

  it("has a Dockerfile that copies only paths that exist and runs the CLI's serve", async () => {
    const dockerfile = await read("Dockerfile");
    for (const [, args] of dockerfile.matchAll(/^COPY (.+)$/gm)) {
      const sources = args!.trim().split(/\s+/).slice(0, -1); // the last word is the destination
      for (const source of sources) await access(path.join(root, source));
    }
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toContain('CMD ["node", "idp/cli/bin.ts", "serve"]');
    await access(path.join(root, "idp/cli/bin.ts"));
  });
});
