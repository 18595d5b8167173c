// The sign-out confirmation and the signed-out page (oidc-provider's end_session renders them).
import { html, type Html } from "./html.ts";
import { layout, type View } from "./layout.ts";

/** Wraps oidc-provider's logout form (which carries its own anti-CSRF token) in our layout. */
export function signOutPage(view: View, form: Html, appName: string | undefined): string {
  const { t } = view;
  return layout(view, {
    title: t("logout.title"),
    body: html`<h1>${t("logout.title")}</h1>
<p>${appName ? t("logout.questionWithApp", { app: appName }) : t("logout.question")}</p>
${form}
<div class="actions">
<button type="submit" class="button-primary" form="op.logoutForm" name="logout" value="yes" autofocus>${t("logout.confirm")}</button>
<button type="submit" class="button-secondary" form="op.logoutForm">${t("logout.stay")}</button>
</div>`,
  });
}

export function signedOutPage(view: View, appName: string | undefined): string {
  const { t } = view;
  return layout(view, {
    title: t("loggedOut.title"),
    body: html`<h1>${t("loggedOut.title")}</h1>
<p>${appName ? t("loggedOut.messageWithApp", { app: appName }) : t("loggedOut.message")}</p>`,
  });
}
