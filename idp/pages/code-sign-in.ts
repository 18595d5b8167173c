// The pages of sign-in by one-time code: asking for a code by SMS, "check your email / phone" with
// the code field, and the pages a mailed link opens (nothing is used until their form is posted):
// in the browser that asked, a button; in any other, the confirmation code that browser shows.
import { html, type Html } from "./html.ts";
import { continueTo, csrfField, errorSummary, field, layout, primaryButton, type ClientBrand, type FieldError, type View } from "./layout.ts";

export type CodeChannel = "email" | "sms";

/** A code as people read it: two groups of three digits. */
const spaced = (code: string) => `${code.slice(0, 3)} ${code.slice(3)}`;

function codeField(view: View, id: string, label: string, error: FieldError | undefined, autofocus: boolean): Html {
  return field({ id, label, type: "text", autocomplete: id === "code" ? "one-time-code" : "off", inputmode: "numeric", invalid: error?.field === id, autofocus });
}

/** "Check your email" (or phone): the same page whoever the address belongs to. */
export function codeSentPage(
  view: View,
  input: { uid: string; csrfToken: string; client: ClientBrand; channel: CodeChannel; identifier: string; minutes: number; confirmationCode?: string; error?: FieldError },
): string {
  const { t } = view;
  const title = input.channel === "email" ? t("code.email.title") : t("code.sms.title");
  const hidden = html`${csrfField(input.csrfToken)}
<input type="hidden" name="channel" value="${input.channel}">
<input type="hidden" name="identifier" value="${input.identifier}">`;
  const resendAction = input.channel === "email" ? `/interaction/${input.uid}/email-code` : `/interaction/${input.uid}/sms-code`;
  return layout(view, {
    title,
    client: input.client,
    body: html`<h1>${title}</h1>
${continueTo(view, input.client)}
${errorSummary(view, input.error ? [input.error] : [])}
<p>${input.channel === "email" ? t("code.email.sent", { identifier: input.identifier, minutes: input.minutes }) : t("code.sms.sent", { identifier: input.identifier, minutes: input.minutes })}</p>
<form method="post" action="/interaction/${input.uid}/code" novalidate>
${hidden}
${codeField(view, "code", t("code.field"), input.error, input.error?.field !== "continue")}
${primaryButton(t("code.submit"))}
</form>
${
  input.confirmationCode
    ? html`<h2>${t("code.otherDevice.title")}</h2>
<p>${t("code.otherDevice.text")}</p>
<p class="confirmation-code" id="confirmation-code">${spaced(input.confirmationCode)}</p>
<form method="post" action="/interaction/${input.uid}/code/continue">
${hidden}
<button type="submit" class="button-secondary" id="continue">${t("code.otherDevice.continue")}</button>
</form>`
    : ""
}
<form method="post" action="${resendAction}">
${csrfField(input.csrfToken)}
<input type="hidden" name="${input.channel === "email" ? "email" : "phone"}" value="${input.identifier}">
<button type="submit" class="button-link">${t("code.resend")}</button>
</form>
<p><a href="/interaction/${input.uid}">${t("code.otherMethod")}</a></p>`,
  });
}

/** Asking for a code by text message. */
export function smsRequestPage(view: View, input: { uid: string; csrfToken: string; client: ClientBrand; phone?: string; error?: FieldError }): string {
  const { t } = view;
  return layout(view, {
    title: t("sms.request.title"),
    client: input.client,
    body: html`<h1>${t("sms.request.title")}</h1>
${continueTo(view, input.client)}
${errorSummary(view, input.error ? [input.error] : [])}
<p>${t("sms.request.intro")}</p>
<form method="post" action="/interaction/${input.uid}/sms-code" novalidate>
${csrfField(input.csrfToken)}
${field({ id: "phone", label: t("sms.request.phone"), type: "tel", autocomplete: "tel", value: input.phone ?? "", invalid: !!input.error, autofocus: true })}
<p class="muted">${t("sms.request.hint")}</p>
${primaryButton(t("sms.request.submit"))}
</form>
<p><a href="/interaction/${input.uid}">${t("code.otherMethod")}</a></p>`,
  });
}

/** A link opened in the browser that asked: one button, posted to the interaction it belongs to. */
export function linkSameBrowserPage(view: View, input: { action: string; token: string; csrfToken: string; identifier: string; purpose: "sign_in" | "sign_up" }): string {
  const { t } = view;
  const title = input.purpose === "sign_in" ? t("link.signIn.title") : t("link.signUp.title");
  return layout(view, {
    title,
    body: html`<h1>${title}</h1>
<p>${input.purpose === "sign_in" ? t("link.signIn.text", { identifier: input.identifier }) : t("link.signUp.text", { identifier: input.identifier })}</p>
<form method="post" action="${input.action}">
${csrfField(input.csrfToken)}
<input type="hidden" name="token" value="${input.token}">
${primaryButton(t("link.continue"))}
</form>`,
  });
}

/** A link opened anywhere else: it can only approve the asking browser, with the code that browser shows. */
export function linkOtherBrowserPage(view: View, input: { token: string; csrfToken: string; error?: FieldError }): string {
  const { t } = view;
  return layout(view, {
    title: t("link.otherBrowser.title"),
    body: html`<h1>${t("link.otherBrowser.title")}</h1>
${errorSummary(view, input.error ? [input.error] : [])}
<p>${t("link.otherBrowser.text")}</p>
<form method="post" action="/email-link/${input.token}" novalidate>
${csrfField(input.csrfToken)}
${codeField(view, "confirmation", t("link.otherBrowser.field"), input.error, true)}
${primaryButton(t("link.otherBrowser.submit"))}
</form>
<p class="muted">${t("link.otherBrowser.ignore")}</p>`,
  });
}

export function linkApprovedPage(view: View): string {
  const { t } = view;
  return layout(view, {
    title: t("link.approved.title"),
    body: html`<h1>${t("link.approved.title")}</h1>
<p>${t("link.approved.text")}</p>`,
  });
}
