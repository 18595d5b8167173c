import { defineConfig } from "vitest/config";

// The tests that compare response times (sign-in, and requests for a reset link, a sign-in code, a sign-up).
const TIMING = ["test/abuse/timing.test.ts", "test/abuse/reset-timing.test.ts", "test/abuse/code-timing.test.ts", "test/abuse/sign-up-timing.test.ts"];

export default defineConfig({
  test: {
    // PostgreSQL and Redis for the tests: the ones configured or running, else a throwaway PostgreSQL (see the file).
    globalSetup: ["test/support/global-setup.ts"],
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
          exclude: TIMING,
          sequence: { groupOrder: 0 },
        },
      },
      // The tests that compare response times run after everything else, one file at a time, so
      // other files' load does not skew them.
      { extends: true, test: { name: "timing", include: TIMING, sequence: { groupOrder: 1 }, fileParallelism: false } },
    ],
  },
});
