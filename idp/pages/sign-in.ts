// The sign-in and consent pages of an interaction.
import { html } from "./html.ts";
import type { MessageId } from "./i18n.ts";
import { buttonForm, continueTo, csrfField, errorSummary, field, layout, primaryButton, type ClientBrand, type FieldError, type View } from "./layout.ts";

export function signInPage(
  view: View,
  input: { uid: string; csrfToken: string; client: ClientBrand; email?: string; error?: FieldError; forgotPasswordHref?: string },
): string {
  const { t } = view;
  const errors = input.error ? [input.error] : [];
  // The field the error is about gets the focus; otherwise the first empty one.
  const focus = input.error?.field ?? (input.email ? "password" : "email");
  return layout(view, {
    title: t("login.title"),
    client: input.client,
    body: html`<h1>${t("login.title")}</h1>
${continueTo(view, input.client)}
${errorSummary(view, errors)}
<form method="post" action="/interaction/${input.uid}/login" novalidate>
${csrfField(input.csrfToken)}
${field({ id: "email", label: t("login.email"), type: "email", autocomplete: "username", value: input.email ?? "", invalid: !!input.error, autofocus: focus === "email" })}
${field({ id: "password", label: t("login.password"), type: "password", autocomplete: "current-password", invalid: !!input.error, autofocus: focus === "password" })}
${primaryButton(t("login.submit"))}
</form>
${input.forgotPasswordHref ? html`<p><a href="${input.forgotPasswordHref}">${t("login.forgotPassword")}</a></p>` : ""}
${buttonForm(`/interaction/${input.uid}/abort`, input.csrfToken, t("login.cancel"), "link")}`,
  });
}

const SCOPES: Record<string, MessageId> = {
  openid: "scope.openid",
  email: "scope.email",
  profile: "scope.profile",
  phone: "scope.phone",
  offline_access: "scope.offline_access",
};

export function consentPage(view: View, input: { uid: string; csrfToken: string; client: ClientBrand; scopes: string[] }): string {
  const { t } = view;
  const app = input.client.name;
  return layout(view, {
    title: t("consent.title", { app }),
    client: input.client,
    body: html`<h1>${t("consent.title", { app })}</h1>
<p>${t("consent.intro", { app })}</p>
<ul class="scopes">
${input.scopes.map((scope) => html`<li>${SCOPES[scope] ? t(SCOPES[scope]) : scope}</li>`)}
</ul>
<div class="actions">
${buttonForm(`/interaction/${input.uid}/confirm`, input.csrfToken, t("consent.allow"), "primary")}
${buttonForm(`/interaction/${input.uid}/abort`, input.csrfToken, t("consent.deny"), "secondary")}
</div>`,
  });
}
