// `idp keys rotate`: adds the next signing key. Staged (the default), it is published at once and
// signs only once every cached copy of the JWKS that lacks it has expired, so no Convex request
// fails. Immediate, it signs at once: for a compromised key, at the price of failing tokens.
import { keySchedulePolicy, type Config } from "../config.ts";
import { keySchedule } from "./key-schedule.ts";
import { generateSigningKey, loadSigningKeys, revokeSigningKey, type SigningKey } from "./signing-keys.ts";

type RotationConfig = Pick<Config, "keysDir" | "jwksMaxAgeSeconds" | "keyRotationMarginSeconds" | "idTokenTtlSeconds" | "serviceTokenTtlSeconds">;

export type Rotation = { key: SigningKey; activatesAt: Date; replaced?: SigningKey; revoked?: SigningKey; warnings: string[] };

export async function rotateSigningKey(
  config: RotationConfig,
  { now, immediate = false, revokeCurrent = false }: { now: Date; immediate?: boolean; revokeCurrent?: boolean },
): Promise<Rotation> {
  const schedule = keySchedule(await loadSigningKeys(config.keysDir), now, keySchedulePolicy(config));
  const replaced = schedule.signing;
  const activatesAt = immediate ? now : new Date(now.getTime() + (config.jwksMaxAgeSeconds + config.keyRotationMarginSeconds) * 1000);
  const key = await generateSigningKey(config.keysDir, { now, activatesAt });
  const warnings: string[] = [];
  let revoked: SigningKey | undefined;
  if (immediate) {
    warnings.push(
      `the new key signs now: verifiers holding a JWKS cached before now (Convex caches it up to ${config.jwksMaxAgeSeconds} s) reject its tokens until their copy expires`,
    );
  }
  if (revokeCurrent && replaced) {
    revoked = await revokeSigningKey(config.keysDir, replaced.kid, now);
    warnings.push(`key ${replaced.kid} is withdrawn: every token it signed fails verification from now on`);
  }
  return { key, activatesAt, replaced, revoked, warnings };
}
