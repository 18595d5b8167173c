// The deployment's HTTP routes: POST /idp-webhook receives the IdP's user events (`idp webhooks add
// --url https://<deployment>.convex.site/idp-webhook`). The Standard Webhooks signature is checked
// with the `standardwebhooks` library (pure JavaScript, so it runs in Convex's default runtime)
// against the endpoint's secret in IDP_WEBHOOK_SECRET; it also refuses a timestamp more than five
// minutes off, so a captured message cannot be replayed later. A verified event is applied once.
import { httpRouter } from "convex/server";
import { Webhook } from "standardwebhooks";
import { internal } from "./_generated/api.js";
import { httpAction } from "./_generated/server.js";
import { parseEvent } from "./idpWebhooks.js";

const SIGNATURE_HEADERS = ["webhook-id", "webhook-timestamp", "webhook-signature"] as const;

export const receiveIdpWebhook = httpAction(async (ctx, request) => {
  const secret = process.env.IDP_WEBHOOK_SECRET;
  // 500, not 401: the IdP keeps the event and retries until the variable is set.
  if (!secret) return new Response("IDP_WEBHOOK_SECRET is not set on this deployment", { status: 500 });
  const body = await request.text();
  const headers = Object.fromEntries(SIGNATURE_HEADERS.map((name) => [name, request.headers.get(name) ?? ""]));
  let parsed: unknown;
  try {
    parsed = new Webhook(secret).verify(body, headers);
  } catch {
    return new Response("invalid webhook signature", { status: 401 });
  }
  const event = parseEvent(headers["webhook-id"]!, parsed);
  // A type this app does not store (webhook.test) is taken, so the IdP does not retry it.
  if (event === undefined) return new Response(null, { status: 204 });
  await ctx.runMutation(internal.idpWebhooks.apply, event);
  return new Response(null, { status: 204 });
});

const http = httpRouter();
http.route({ path: "/idp-webhook", method: "POST", handler: receiveIdpWebhook });
export default http;
