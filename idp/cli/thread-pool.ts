// Imported first by bin.ts, before anything has used libuv's thread pool (libuv sizes it on first
// use). The pool runs the argon2 hashes, and each running hash holds ARGON2_MEMORY_KIB (19 MiB by
// default): threads beyond the cores add resident memory, not sign-ins per second. So the pool
// matches the cores (at least 2) unless the operator sets UV_THREADPOOL_SIZE.
import { availableParallelism } from "node:os";

process.env.UV_THREADPOOL_SIZE ??= String(Math.max(2, availableParallelism()));
