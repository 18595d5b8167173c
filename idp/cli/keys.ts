// `idp keys ...`: the signing keys in KEYS_DIR (and the cookie keys beside them).
import { keySchedulePolicy } from "../config.ts";
import { generateCookieKeys, loadCookieKeys } from "../keys/cookie-keys.ts";
import { keySchedule } from "../keys/key-schedule.ts";
import { generateSigningKey, loadSigningKeys } from "../keys/signing-keys.ts";
import { CliUsageError, parse, type CommandGroup } from "./command.ts";

export const keys: CommandGroup = {
  name: "keys",
  title: "Keys",
  commands: [
    {
      name: "keys generate",
      usage: [""],
      summary: "create the first signing key (and cookie keys if missing)",
      details: "Refuses when KEYS_DIR already has a signing key: replace one with `idp keys rotate`, which\nnever breaks tokens. Running servers pick the key up within KEYS_RELOAD_INTERVAL.",
      async run(args, ctx) {
        parse(args, {});
        const { config } = ctx;
        if ((await loadSigningKeys(config.keysDir)).some((existing) => existing.state === "active")) {
          throw new Error(`${config.keysDir} already has a signing key: use \`idp keys rotate\` to replace it without breaking tokens`);
        }
        // The database is opened first, so that a key is made only when its audit event can be recorded.
        const operator = await ctx.operator();
        const key = await generateSigningKey(config.keysDir);
        await operator.keyGenerated(key.kid);
        ctx.out(`generated signing key ${key.kid} in ${config.keysDir}`);
        if (!(await loadCookieKeys(config.keysDir))) {
          await generateCookieKeys(config.keysDir);
          ctx.out(`generated cookie keys in ${config.keysDir}`);
        }
        ctx.out("running servers pick it up within KEYS_RELOAD_INTERVAL");
      },
    },
    {
      name: "keys rotate",
      usage: ["[--immediate [--revoke-current]]"],
      summary:
        "add the next signing key: published now, signing once\ncached JWKS copies have expired (staged); --immediate signs\nat once, --revoke-current also withdraws the current key",
      details: "Staged is the safe default. --revoke-current is for a key that may have leaked: tokens it\nsigned stop verifying at once.",
      async run(args, ctx) {
        const { values } = parse(args, { immediate: { type: "boolean" }, "revoke-current": { type: "boolean" } });
        if (values["revoke-current"] && !values.immediate) throw new CliUsageError("--revoke-current goes with --immediate");
        const rotation = await (await ctx.operator()).rotateKey({ immediate: values.immediate, revokeCurrent: values["revoke-current"] });
        ctx.out(`added signing key ${rotation.key.kid}: published now, signing from ${rotation.activatesAt.toISOString()}`);
        if (rotation.replaced && !rotation.revoked) {
          ctx.out(`key ${rotation.replaced.kid} stays published until the tokens it signed have expired, then retires`);
        }
        for (const warning of rotation.warnings) ctx.warn(warning);
      },
    },
    {
      name: "keys list",
      usage: [""],
      summary: "every key with its state and times",
      async run(args, ctx) {
        parse(args, {});
        const { config } = ctx;
        const found = await loadSigningKeys(config.keysDir);
        if (found.length === 0) return ctx.out(`no signing keys in ${config.keysDir}`);
        for (const entry of keySchedule(found, new Date(), keySchedulePolicy(config)).timeline) {
          const times = [
            `created ${entry.key.createdAt}`,
            entry.activatesAt ? `${entry.status === "next" ? "signs from" : "signed from"} ${entry.activatesAt.toISOString()}` : "",
            entry.retiresAt ? `${entry.status === "retired" ? "retired" : "retires"} ${entry.retiresAt.toISOString()}` : "",
            entry.key.revokedAt ? `revoked ${entry.key.revokedAt}` : "",
          ].filter(Boolean);
          ctx.out(`${entry.key.kid}\t${entry.status}\t${times.join(", ")}`);
        }
      },
    },
  ],
};
