// The sign-up pages: the email (with the spam protection's fields), "check your email" with the
// code field, and choosing the password once the address is confirmed.
import { html, type Html } from "./html.ts";
import { continueTo, csrfField, errorSummary, field, layout, primaryButton, type ClientBrand, type FieldError, type View } from "./layout.ts";

type SignUpInput = { uid: string; csrfToken: string; client: ClientBrand; error?: FieldError };

const backToSignIn = (view: View, uid: string) => html`<p>${view.t("signUp.haveAccount")} <a href="/interaction/${uid}">${view.t("signUp.signIn")}</a></p>`;

export function signUpPage(view: View, input: SignUpInput & { email?: string; spamFields: Html }): string {
  const { t } = view;
  return layout(view, {
    title: t("signUp.title"),
    client: input.client,
    body: html`<h1>${t("signUp.title")}</h1>
${continueTo(view, input.client)}
${errorSummary(view, input.error ? [input.error] : [])}
<p>${t("signUp.intro")}</p>
<form method="post" action="/interaction/${input.uid}/sign-up" novalidate>
${csrfField(input.csrfToken)}
${field({ id: "email", label: t("login.email"), type: "email", autocomplete: "email", value: input.email ?? "", invalid: !!input.error, autofocus: true })}
${input.spamFields}
${primaryButton(t("signUp.submit"))}
</form>
${backToSignIn(view, input.uid)}`,
  });
}

/** "Check your email": the same page whether or not the address has an account. */
export function signUpSentPage(view: View, input: SignUpInput & { email: string; minutes: number; confirmationCode: string; spamFields: Html }): string {
  const { t } = view;
  const hidden = html`${csrfField(input.csrfToken)}
<input type="hidden" name="email" value="${input.email}">`;
  return layout(view, {
    title: t("signUp.sent.title"),
    client: input.client,
    body: html`<h1>${t("signUp.sent.title")}</h1>
${continueTo(view, input.client)}
${errorSummary(view, input.error ? [input.error] : [])}
<p>${t("signUp.sent.message", { identifier: input.email, minutes: input.minutes })}</p>
<form method="post" action="/interaction/${input.uid}/sign-up/code" novalidate>
${hidden}
${field({ id: "code", label: t("signUp.code.field"), type: "text", autocomplete: "one-time-code", inputmode: "numeric", invalid: input.error?.field === "code", autofocus: input.error?.field !== "continue" })}
${primaryButton(t("signUp.code.submit"))}
</form>
<h2>${t("code.otherDevice.title")}</h2>
<p>${t("code.otherDevice.text")}</p>
<p class="confirmation-code" id="confirmation-code">${input.confirmationCode.slice(0, 3)} ${input.confirmationCode.slice(3)}</p>
<form method="post" action="/interaction/${input.uid}/sign-up/continue">
${hidden}
<button type="submit" class="button-secondary" id="continue">${t("code.otherDevice.continue")}</button>
</form>
<form method="post" action="/interaction/${input.uid}/sign-up">
${hidden}
${input.spamFields}
<button type="submit" class="button-link">${t("code.resend")}</button>
</form>
${backToSignIn(view, input.uid)}`,
  });
}

export function signUpPasswordPage(view: View, input: SignUpInput & { email: string; minLength: number }): string {
  const { t } = view;
  const error = input.error;
  return layout(view, {
    title: t("signUp.password.title"),
    client: input.client,
    body: html`<h1>${t("signUp.password.title")}</h1>
${continueTo(view, input.client)}
${errorSummary(view, error ? [error] : [])}
<p>${t("signUp.password.intro", { identifier: input.email })}</p>
<form method="post" action="/interaction/${input.uid}/sign-up/password" novalidate>
${csrfField(input.csrfToken)}
<input type="hidden" name="email" value="${input.email}">
<input type="text" name="username" value="${input.email}" autocomplete="username" hidden>
${field({ id: "password", label: t("reset.choose.password"), type: "password", autocomplete: "new-password", invalid: error?.field === "password", autofocus: error?.field !== "repeat" })}
<p class="muted">${t("reset.choose.hint", { min: input.minLength })}</p>
${field({ id: "repeat", label: t("reset.choose.repeat"), type: "password", autocomplete: "new-password", invalid: error?.field === "repeat", autofocus: error?.field === "repeat" })}
${primaryButton(t("signUp.password.submit"))}
</form>`,
  });
}
