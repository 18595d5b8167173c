// The invitation pages: "Create your account" (the page a link opens: the invited address, shown
// as text, and a new password twice; nothing is used until the form is posted, so a mail scanner
// fetching the link creates nothing), and "Your account is ready".
import { html } from "./html.ts";
import { csrfField, errorSummary, field, layout, primaryButton, type FieldError, type View } from "./layout.ts";

export function createAccountPage(view: View, input: { token: string; email: string; csrfToken: string; minLength: number; error?: FieldError }): string {
  const { t } = view;
  const errors = input.error ? [input.error] : [];
  return layout(view, {
    title: t("invitation.create.title"),
    body: html`<h1>${t("invitation.create.title")}</h1>
<p>${t("invitation.create.intro", { brand: view.brand.name })}</p>
${errorSummary(view, errors)}
<form method="post" action="/invite/${input.token}" novalidate>
${csrfField(input.csrfToken)}
<input type="hidden" name="ui_locales" value="${view.locale}">
<p class="muted">${t("invitation.create.email")}</p>
<p><strong>${input.email}</strong></p>
<input type="email" autocomplete="username" value="${input.email}" hidden readonly>
${field({ id: "password", label: t("invitation.create.password"), type: "password", autocomplete: "new-password", invalid: input.error?.field === "password", autofocus: input.error?.field !== "repeat" })}
<p class="muted">${t("reset.choose.hint", { min: input.minLength })}</p>
${field({ id: "repeat", label: t("invitation.create.repeat"), type: "password", autocomplete: "new-password", invalid: input.error?.field === "repeat", autofocus: input.error?.field === "repeat" })}
${primaryButton(t("invitation.create.submit"))}
</form>`,
  });
}

export function accountReadyPage(view: View, input: { email: string }): string {
  const { t } = view;
  return layout(view, {
    title: t("invitation.done.title"),
    body: html`<h1>${t("invitation.done.title")}</h1>
<p>${t("invitation.done.message", { brand: view.brand.name, email: input.email })}</p>
<p>${t("invitation.done.signIn")}</p>`,
  });
}
