import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["idp/**/*.test.ts", "test/**/*.test.ts", "convex/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: argon2 and PGlite are CPU-heavy, so keep the number of parallel files small.
    maxWorkers: 2,
  },
});
