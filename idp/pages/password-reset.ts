// The password reset pages: asking for a link, "check your email", choosing the new password (the
// page a link opens: nothing is used until its form is posted), and "password changed".
import { html, type Html } from "./html.ts";
import type { MessageId } from "./i18n.ts";
import { csrfField, errorSummary, field, layout, primaryButton, type FieldError, type View } from "./layout.ts";

/** Where the pages lead back to: the sign-in page of the interaction the reset started from. */
function backToSignIn(view: View, interactionUid: string | undefined): Html {
  return interactionUid ? html`<p><a href="/interaction/${interactionUid}">${view.t("reset.backToSignIn")}</a></p>` : html``;
}

export function resetRequestPage(
  view: View,
  input: { csrfToken: string; interactionUid?: string; email?: string; error?: FieldError },
): string {
  const { t } = view;
  const errors = input.error ? [input.error] : [];
  return layout(view, {
    title: t("reset.request.title"),
    body: html`<h1>${t("reset.request.title")}</h1>
<p>${t("reset.request.intro")}</p>
${errorSummary(view, errors)}
<form method="post" action="/reset" novalidate>
${csrfField(input.csrfToken)}
<input type="hidden" name="ui_locales" value="${view.locale}">
${input.interactionUid ? html`<input type="hidden" name="interaction" value="${input.interactionUid}">` : ""}
${field({ id: "email", label: t("login.email"), type: "email", autocomplete: "username", value: input.email ?? "", invalid: !!input.error, autofocus: true })}
${primaryButton(t("reset.request.submit"))}
</form>
${backToSignIn(view, input.interactionUid)}`,
  });
}

/** The same page for every email, registered or not: it never names the address. */
export function resetRequestedPage(view: View, input: { interactionUid?: string; linkMinutes: number }): string {
  const { t } = view;
  return layout(view, {
    title: t("reset.sent.title"),
    body: html`<h1>${t("reset.sent.title")}</h1>
<p>${t("reset.sent.message", { minutes: input.linkMinutes })}</p>
<p class="muted">${t("reset.sent.notArrived")}</p>
${backToSignIn(view, input.interactionUid)}`,
  });
}

export const PASSWORD_VIOLATION_MESSAGES = {
  too_short: "password.error.tooShort",
  too_long: "password.error.tooLong",
  common: "password.error.common",
  email: "password.error.email",
  mismatch: "reset.choose.error.mismatch",
} as const satisfies Record<string, MessageId>;

export function chooseNewPasswordPage(view: View, input: { token: string; csrfToken: string; minLength: number; error?: FieldError }): string {
  const { t } = view;
  const errors = input.error ? [input.error] : [];
  return layout(view, {
    title: t("reset.choose.title"),
    body: html`<h1>${t("reset.choose.title")}</h1>
${errorSummary(view, errors)}
<form method="post" action="/reset/${input.token}" novalidate>
${csrfField(input.csrfToken)}
${field({ id: "password", label: t("reset.choose.password"), type: "password", autocomplete: "new-password", invalid: input.error?.field === "password", autofocus: input.error?.field !== "repeat" })}
<p class="muted">${t("reset.choose.hint", { min: input.minLength })}</p>
${field({ id: "repeat", label: t("reset.choose.repeat"), type: "password", autocomplete: "new-password", invalid: input.error?.field === "repeat", autofocus: input.error?.field === "repeat" })}
${primaryButton(t("reset.choose.submit"))}
</form>`,
  });
}

export function passwordChangedPage(view: View, input: { interactionUid?: string }): string {
  const { t } = view;
  return layout(view, {
    title: t("reset.done.title"),
    body: html`<h1>${t("reset.done.title")}</h1>
<p>${t("reset.done.message")}</p>
${
  input.interactionUid
    ? html`<p><a class="button-primary" href="/interaction/${input.interactionUid}">${t("reset.done.continue")}</a></p>`
    : html`<p>${t("reset.done.signInAgain")}</p>`
}`,
  });
}
