// The ConfigError loadConfig throws for an environment, for the tests of the messages operators see.
import { expect } from "vitest";
import { ConfigError, loadConfig } from "../../idp/config.ts";

/** The ConfigError loadConfig(env) throws; fails the test when it throws nothing or something else. */
export function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`expected loadConfig(${JSON.stringify(env)}) to throw a ConfigError`);
}
