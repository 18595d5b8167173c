// The sign-in and consent pages of an interaction.
import { html } from "./html.ts";
import type { MessageId } from "./i18n.ts";
import { passkeyForm } from "./passkey.ts";
import { buttonForm, continueTo, csrfField, errorSummary, field, layout, primaryButton, type ClientBrand, type FieldError, type View } from "./layout.ts";

/** What the sign-in page offers besides the email field (SIGN_IN_METHODS, SIGN_UP). */
export type SignInOffer = {
  password: boolean;
  emailCode: boolean;
  smsCode: boolean;
  signUp: boolean;
  forgotPasswordHref?: string;
  /** Upstream identity providers (idp/federation/): a "Continue with <name>" button each. */
  upstreams?: { id: string; name: string }[];
  /** Passkeys: the script that shows the passkey form and offers passkeys in the email field's autofill. */
  passkey?: { scriptHref: string };
};

export function signInPage(
  view: View,
  input: { uid: string; csrfToken: string; client: ClientBrand; offer: SignInOffer; email?: string; error?: FieldError },
): string {
  const { t } = view;
  const { offer, uid } = input;
  const errors = input.error ? [input.error] : [];
  // The field the error is about gets the focus; otherwise the first empty one.
  const focus = input.error?.field ?? (input.email && offer.password ? "password" : "email");
  // Without a password the code is the one way in: its button is the form's own.
  const codeButton = offer.password
    ? html`<button type="submit" class="button-secondary" formaction="/interaction/${uid}/email-code">${t("login.emailCode")}</button>`
    : primaryButton(t("login.emailCode"));
  return layout(view, {
    title: t("login.title"),
    client: input.client,
    body: html`<h1>${t("login.title")}</h1>
${continueTo(view, input.client)}
${errorSummary(view, errors)}
${offer.upstreams?.length ? html`<ul class="upstreams">
${offer.upstreams.map((upstream) => html`<li><a class="button-secondary" href="/interaction/${uid}/upstream/${upstream.id}">${t("login.continueWith", { provider: upstream.name })}</a></li>`)}
</ul>` : ""}
${offer.password || offer.emailCode ? html`<form method="post" action="/interaction/${uid}/${offer.password ? "login" : "email-code"}" novalidate>
${csrfField(input.csrfToken)}
${field({ id: "email", label: t("login.email"), type: "email", autocomplete: offer.passkey ? "username webauthn" : "username", value: input.email ?? "", invalid: input.error?.field === "email", autofocus: focus === "email" })}
${offer.password ? field({ id: "password", label: t("login.password"), type: "password", autocomplete: "current-password", invalid: input.error?.field === "email", autofocus: focus === "password" }) : ""}
${offer.password ? primaryButton(t("login.submit")) : ""}
${offer.emailCode ? codeButton : ""}
</form>` : ""}
${offer.passkey ? passkeyForm(view, uid, input.csrfToken, offer.passkey.scriptHref) : ""}
${offer.password && offer.forgotPasswordHref ? html`<p><a href="${offer.forgotPasswordHref}">${t("login.forgotPassword")}</a></p>` : ""}
${offer.smsCode ? html`<p><a href="/interaction/${uid}/sms-code">${t("login.smsCode")}</a></p>` : ""}
${offer.signUp ? html`<p>${t("login.noAccount")} <a href="/interaction/${uid}/sign-up">${t("login.createAccount")}</a></p>` : ""}
${buttonForm(`/interaction/${uid}/abort`, input.csrfToken, t("login.cancel"), "link")}`,
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
