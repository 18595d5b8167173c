// `idp webhooks ...`: the endpoints that receive user events (a Convex HTTP action, say), signed per
// the Standard Webhooks specification. A running server delivers them; the CLI only manages endpoints.
import { CliUsageError, parse, type CommandGroup } from "./command.ts";
import { WEBHOOK_EVENT_TYPES } from "../webhooks/events.ts";

const KEYS = "Run it with the server's DATABASE_URL and KEYS_DIR: the secret is sealed with the server's cookie keys.";

export const webhooks: CommandGroup = {
  name: "webhooks",
  title: "Webhooks",
  commands: [
    {
      name: "webhooks add",
      usage: ["--url U [--events TYPE,...]"],
      summary: "send user events to U; prints its signing secret once",
      details: `Events: ${WEBHOOK_EVENT_TYPES.join(", ")} (all without --events; --events may repeat).\nU is https, or http for localhost and one-word internal host names (http://convex:3211/idp-webhook).\nPrints the endpoint's id and its secret (whsec_...), which is never shown again: set it on the receiver\n(for Convex: npx convex env set IDP_WEBHOOK_SECRET whsec_...). ${KEYS}`,
      async run(args, ctx) {
        const { values } = parse(args, { url: { type: "string" }, events: { type: "string", multiple: true } });
        if (!values.url) throw new CliUsageError("--url is required");
        const { endpoint, secret } = await (await ctx.webhooks()).add({ url: values.url, events: values.events });
        ctx.out(`added webhook endpoint ${endpoint.id} for ${endpoint.url} (${endpoint.events?.join(", ") ?? "all events"})`);
        ctx.out(`secret (shown once): ${secret}`);
      },
    },
    {
      name: "webhooks list",
      usage: [""],
      summary: "every endpoint: id, URL, events, undelivered events",
      details: "One endpoint a line, tab-separated: id, URL, its event types (* for all), and how many of its events are\nwaiting or being retried.",
      async run(args, ctx) {
        parse(args, {});
        const list = await (await ctx.webhooks()).list();
        if (list.length === 0) return ctx.out("no webhook endpoints");
        for (const endpoint of list) ctx.out(`${endpoint.id}\t${endpoint.url}\t${endpoint.events?.join(",") ?? "*"}\t${endpoint.pending} pending`);
      },
    },
    {
      name: "webhooks remove",
      usage: ["ID"],
      summary: "stop sending events to an endpoint (its undelivered ones are dropped)",
      async run(args, ctx) {
        const { positionals } = parse(args, {}, 1);
        await (await ctx.webhooks()).remove(positionals[0]!);
        ctx.out(`removed webhook endpoint ${positionals[0]}`);
      },
    },
    {
      name: "webhooks test",
      usage: ["ID"],
      summary: "post a signed webhook.test message to an endpoint now",
      details: `Posts { "type": "webhook.test", ... } from this process and prints the receiver's answer; fails when the\nreceiver does not answer 2xx within WEBHOOK_TIMEOUT. Nothing is queued. ${KEYS}`,
      async run(args, ctx) {
        const { positionals } = parse(args, {}, 1);
        const { messageId, status } = await (await ctx.webhooks()).test(positionals[0]!);
        ctx.out(`delivered ${messageId} to ${positionals[0]}: the receiver answered ${status}`);
      },
    },
  ],
};
