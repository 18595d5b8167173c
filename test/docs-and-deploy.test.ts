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

  it("pins every image to a version: no :latest, no bare major", async () => {
    const { services } = parse(await read("docker-compose.yml"));
    const images = Object.values(services as Record<string, { image?: string }>).flatMap((service) => (service.image ? [service.image] : []));
    expect(images.length).toBeGreaterThan(4);
    for (const image of [...images, /^FROM (\S+)/m.exec(await read("Dockerfile"))![1]!]) {
      const tag = image.slice(image.lastIndexOf(":") + 1);
      expect(image, image).toContain(":");
      expect(tag, image).not.toBe("latest");
      // A version with at least a minor part (17.6, 24.22.3), or a commit hash as Convex tags its builds.
      expect(tag, image).toMatch(/^(\d+\.\d+[\w.-]*|[0-9a-f]{40})$/);
    }
  });

  it("wires a self-hosted Convex backend and dashboard to the IdP", async () => {
    const { services } = parse(await read("docker-compose.yml"));
    expect(services.backend.image).toMatch(/^ghcr\.io\/get-convex\/convex-backend(:|$)/);
    expect(services.dashboard.image).toMatch(/^ghcr\.io\/get-convex\/convex-dashboard(:|$)/);
    expect(Object.keys(services.backend.environment).sort()).toEqual(
      ["CONVEX_CLOUD_ORIGIN", "CONVEX_SITE_ORIGIN", "INSTANCE_NAME", "INSTANCE_SECRET"].sort(),
    );
    expect(services.backend.depends_on.idp.condition).toBe("service_healthy");
    expect(services.dashboard.environment.NEXT_PUBLIC_DEPLOYMENT_URL).toBeDefined();
  });

  it("runs the same suite in its tests service, with the variables that suite reads", async () => {
    const { services } = parse(await read("docker-compose.yml"));
    const tests = services.tests;
    expect(tests.profiles).toEqual(["test"]);
    expect(tests.command).toEqual(["bash", ".ci/run"]);
    const ciRun = await read(".ci/run");
    expect(ciRun).toMatch(/^npm test$/m);
    const suiteSources = (await Promise.all(["test/support/database.ts", "test/convex-roundtrip.test.ts", "test/support/redis.ts"].map(read))).join("\n");
    for (const name of Object.keys(tests.environment).filter((name) => name !== "CI")) {
      expect(suiteSources, `${name} is set for the tests service but never read`).toContain(`process.env.${name}`);
    }
    expect(tests.environment.CONVEX_SELF_HOSTED_URL).toBe("http://backend:3210");
  });

  it("has a Dockerfile that copies only paths that exist and runs the CLI's serve", async () => {
    const dockerfile = await read("Dockerfile");
    for (const [, args] of dockerfile.matchAll(/^COPY (.+)$/gm)) {
      const sources = args!.trim().split(/\s+/).slice(0, -1); // the last word is the destination
      for (const source of sources) await access(path.join(root, source));
    }
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toContain('CMD ["node", "idp/cli/bin.ts", "serve"]');
    // The same command as `npm start`, which the benchmark starts the IdP with.
    const { scripts } = JSON.parse(await read("package.json")) as { scripts: { start: string } };
    expect(scripts.start).toBe("node idp/cli/bin.ts serve");
    await access(path.join(root, "idp/cli/bin.ts"));
  });
});
