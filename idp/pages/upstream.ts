// The page of a first sign-in through an upstream provider whose email matches an account here
// that it may not link by itself: the account's password confirms that the person owns both.
import { html } from "./html.ts";
import { buttonForm, continueTo, csrfField, errorSummary, field, layout, primaryButton, type ClientBrand, type FieldError, type View } from "./layout.ts";

export function upstreamLinkPage(
  view: View,
  input: { uid: string; csrfToken: string; client: ClientBrand; provider: string; email: string; error?: FieldError },
): string {
  const { t } = view;
  const title = t("upstream.link.title", { provider: input.provider });
  return layout(view, {
    title,
    client: input.client,
    body: html`<h1>${title}</h1>
${continueTo(view, input.client)}
${errorSummary(view, input.error ? [input.error] : [])}
<p>${t("upstream.link.intro", { provider: input.provider, email: input.email })}</p>
<form method="post" action="/interaction/${input.uid}/upstream-link" novalidate>
${csrfField(input.csrfToken)}
<input type="hidden" name="email" value="${input.email}" autocomplete="username">
${field({ id: "password", label: t("login.password"), type: "password", autocomplete: "current-password", invalid: input.error !== undefined, autofocus: true })}
${primaryButton(t("upstream.link.submit"))}
</form>
${buttonForm(`/interaction/${input.uid}/abort`, input.csrfToken, t("login.cancel"), "link")}`,
  });
}
