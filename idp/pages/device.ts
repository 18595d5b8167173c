// The pages of the device authorization grant (RFC 8628) that a person sees in a browser: enter
// the code a device shows, confirm it is the same code, and "device connected". oidc-provider
// renders them through these (oidc/device-flow.ts); each form carries the provider's own xsrf token.
import { html, type Html } from "./html.ts";
import { errorSummary, field, layout, primaryButton, type ClientBrand, type FieldError, type View } from "./layout.ts";
import type { MessageId } from "./i18n.ts";

/** Why the code page is shown again: a code that is wrong, expired or used, none, a broken form, or a cancelled sign-in. */
export type DeviceCodeProblem = "notFound" | "expired" | "alreadyUsed" | "noCode" | "failed" | "aborted";

const PROBLEM_MESSAGES: Record<Exclude<DeviceCodeProblem, "aborted">, MessageId> = {
  notFound: "device.error.notFound",
  expired: "device.error.expired",
  alreadyUsed: "device.error.alreadyUsed",
  noCode: "device.error.noCode",
  failed: "device.error.failed",
};

const xsrfField = (token: string): Html => html`<input type="hidden" name="xsrf" value="${token}">`;

/** "Connect a device": the code field, prefilled from the link a device showed (verification_uri_complete). */
export function deviceCodePage(view: View, input: { action: string; xsrf: string; userCode?: string; problem?: DeviceCodeProblem }): string {
  const { t } = view;
  const { problem } = input;
  const errors: FieldError[] = problem && problem !== "aborted" ? [{ field: "user_code", message: t(PROBLEM_MESSAGES[problem]) }] : [];
  return layout(view, {
    title: t("device.title"),
    body: html`<h1>${t("device.title")}</h1>
${errorSummary(view, errors)}
${problem === "aborted" ? html`<p role="status">${t("device.aborted")}</p>` : ""}
<p>${t("device.intro")}</p>
<form id="op.deviceInputForm" method="post" action="${input.action}" novalidate>
${xsrfField(input.xsrf)}
${field({ id: "user_code", label: t("device.code"), type: "text", autocomplete: "off", value: input.userCode ?? "", invalid: errors.length > 0, autofocus: true })}
${primaryButton(t("device.submit"))}
</form>`,
  });
}

/**
 * "Connect <app>?": the code again, for the person to compare with the device's. `form` is
 * oidc-provider's confirmation form (its xsrf token and the code, hidden); the two buttons submit it,
 * Cancel with abort=yes.
 */
export function deviceConfirmPage(view: View, input: { form: Html; formId: string; client: ClientBrand; userCode: string }): string {
  const { t } = view;
  const title = t("device.confirm.title", { app: input.client.name });
  return layout(view, {
    title,
    client: input.client,
    body: html`<h1>${title}</h1>
<p>${t("device.confirm.intro")}</p>
<p class="confirmation-code" id="user-code">${input.userCode}</p>
<p>${t("device.confirm.warning")}</p>
${input.form}
<div class="actions">
<button type="submit" class="button-primary" form="${input.formId}" autofocus>${t("device.confirm.allow")}</button>
<button type="submit" class="button-secondary" form="${input.formId}" name="abort" value="yes">${t("device.confirm.cancel")}</button>
</div>`,
  });
}

/** "Device connected": the device's next poll gets its tokens. */
export function deviceSuccessPage(view: View, input: { client: ClientBrand }): string {
  const { t } = view;
  return layout(view, {
    title: t("device.success.title"),
    client: input.client,
    body: html`<h1>${t("device.success.title")}</h1>
<p role="status">${t("device.success.message", { app: input.client.name })}</p>`,
  });
}
