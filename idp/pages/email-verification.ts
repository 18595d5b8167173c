// The email verification pages: the page a link opens (one button; nothing is used until it is
// pressed, so a mail scanner fetching the link confirms nothing), and "email address confirmed".
import { html } from "./html.ts";
import { buttonForm, layout, type View } from "./layout.ts";

export function confirmEmailPage(view: View, input: { token: string; csrfToken: string }): string {
  const { t } = view;
  return layout(view, {
    title: t("verifyEmail.confirm.title"),
    body: html`<h1>${t("verifyEmail.confirm.title")}</h1>
<p>${t("verifyEmail.confirm.message", { brand: view.brand.name })}</p>
${buttonForm(`/verify-email/${input.token}`, input.csrfToken, t("verifyEmail.confirm.submit"), "primary")}`,
  });
}

export function emailConfirmedPage(view: View): string {
  const { t } = view;
  return layout(view, {
    title: t("verifyEmail.done.title"),
    body: html`<h1>${t("verifyEmail.done.title")}</h1>
<p>${t("verifyEmail.done.message")}</p>
<p class="muted">${t("verifyEmail.done.close")}</p>`,
  });
}
