// The device authorization grant (RFC 8628) on top of oidc-provider's deviceFlow feature: its three
// pages rendered by our page layer, the code from a verification_uri_complete link prefilled without
// the provider's auto-submitting script, and the polling interval enforced with slow_down, which the
// provider leaves to the deployment. Expiry is the provider's (ttl.DeviceCode, DEVICE_CODE_TTL).
import { createHash } from "node:crypto";
import Provider, { errors, type Configuration, type KoaContextWithOIDC } from "oidc-provider";
import { trusted } from "../pages/html.ts";
import type { View } from "../pages/layout.ts";
import { deviceCodePage, deviceConfirmPage, deviceSuccessPage, type DeviceCodeProblem } from "../pages/device.ts";

/** RFC 8628 3.2: without an `interval` in the response, a device waits 5 seconds between polls. */
export const DEVICE_POLL_INTERVAL_SECONDS = 5;

/** The provider's route of the code page, under the issuer's path. */
const CODE_PAGE_PATH = "/device";

type DeviceFlow = NonNullable<NonNullable<Configuration["features"]>["deviceFlow"]>;

/** The provider's re-render errors (lib/helpers/re_render_errors.js) by name, as the code page explains them. */
const PROBLEMS: Record<string, DeviceCodeProblem> = {
  NotFoundError: "notFound",
  ExpiredError: "expired",
  AlreadyUsedError: "alreadyUsed",
  NoCodeError: "noCode",
  AbortedError: "aborted",
};

/** The provider's anti-CSRF token for this browser's device form: the value its own forms carry. */
function xsrfOf(ctx: KoaContextWithOIDC): string {
  const state = (ctx.oidc.session as unknown as { state?: { secret?: string } }).state;
  return state?.secret ?? "";
}

const clientBrand = (client: { clientId: string; clientName?: string } | undefined, view: View) => ({
  name: client?.clientName ?? client?.clientId ?? view.t("layout.theApplication"),
});

/** features.deviceFlow: enabled, with our pages. `viewOf` picks the request's language and brand. */
export function deviceFlowFeature(viewOf: (ctx: KoaContextWithOIDC) => View): DeviceFlow {
  return {
    enabled: true,
    // The defaults, stated: 8 letters from an alphabet without vowels or look-alikes, XXXX-XXXX.
    charset: "base-20",
    mask: "****-****",
    async userCodeInputSource(ctx, _form, _out, error) {
      const problem = error ? (PROBLEMS[error.name] ?? "failed") : undefined;
      // A wrong, expired or used code is the person's mistake: answered on the page, as a 400.
      if (problem && problem !== "aborted") ctx.status = 400;
      const userCode = (error as { userCode?: string } | undefined)?.userCode ?? (ctx.state.deviceUserCode as string | undefined);
      ctx.type = "html";
      ctx.body = deviceCodePage(viewOf(ctx), { action: ctx.oidc.urlFor("code_verification"), xsrf: xsrfOf(ctx), userCode, problem });
    },
    async userCodeConfirmSource(ctx, form, client, _deviceInfo, userCode) {
      const view = viewOf(ctx);
      ctx.type = "html";
      ctx.body = deviceConfirmPage(view, { form: trusted(form), formId: "op.deviceConfirmForm", client: clientBrand(client, view), userCode });
    },
    async successSource(ctx) {
      const view = viewOf(ctx);
      ctx.type = "html";
      ctx.body = deviceSuccessPage(view, { client: clientBrand(ctx.oidc.client, view) });
    },
  };
}

/**
 * A link with the code (verification_uri_complete) would get the provider's page that posts it by
 * script. Instead the code page is shown with the code filled in: one click, no script, and the
 * person sees what they are about to confirm.
 */
export function prefillCodeFromLink(provider: Provider): void {
  provider.use(async (ctx, next) => {
    if (ctx.method === "GET" && ctx.path === CODE_PAGE_PATH && typeof ctx.query.user_code === "string") {
      ctx.state.deviceUserCode = ctx.query.user_code.slice(0, 64);
      const query = new URLSearchParams(ctx.querystring);
      query.delete("user_code");
      ctx.querystring = query.toString();
    }
    await next();
  });
}

/**
 * slow_down (RFC 8628 3.5) for a device that polls the token endpoint sooner than the interval
 * after its last poll. `tooSoon` counts the poll (abuse/limits.ts, devicePollTooSoon) under a digest
 * of the device code, never the code itself. Checked where the provider looks the device code up,
 * after the client is authenticated and before anything is issued.
 */
export function enforceDevicePollInterval(provider: Provider, tooSoon: (subject: string, intervalSeconds: number) => Promise<boolean>): void {
  const DeviceCode = provider.DeviceCode as unknown as { find(id: string, options?: object): Promise<unknown> };
  const find = DeviceCode.find.bind(DeviceCode);
  DeviceCode.find = async (id: string, options?: object) => {
    if (Provider.ctx?.oidc?.route === "token" && typeof id === "string") {
      const subject = createHash("sha256").update(id).digest("base64url");
      if (await tooSoon(subject, DEVICE_POLL_INTERVAL_SECONDS)) throw new errors.SlowDown();
    }
    return find(id, options);
  };
}
