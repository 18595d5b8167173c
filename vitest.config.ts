import { defineConfig } from "vitest/config";

const TIMING = "test/abuse/timing.test.ts";

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: argon2 and PGlite are CPU-heavy, so keep the number of parallel files small.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: "suite",
          include: ["idp/**/*.test.ts", "test/**/*.test.ts", "convex/**/*.test.ts"],
          exclude: [TIMING],
          sequence: { groupOrder: 0 },
        },
      },
      // The one test that compares response times runs alone, after everything else, so other
      // files' load does not skew it.
      { extends: true, test: { name: "timing", include: [TIMING], sequence: { groupOrder: 1 } } },
    ],
  },
});
