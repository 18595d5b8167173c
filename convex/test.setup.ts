/// <reference types="vite/client" />
// The function modules for convexTest(schema, modules): every module in convex/ (with _generated/,
// which is how convex-test finds the root), without the test files. The name has two dots so
// Convex's bundler skips this file: it is never pushed to a deployment.
export const modules = import.meta.glob(["./**/*.ts", "!./**/*.test.ts"]);
