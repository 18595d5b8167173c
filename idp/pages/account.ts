// The account page (/account): who is signed in, a notice after an action, and the sections the
// features contribute (account/sections.ts), each a block with its own heading.
import { html, type Html } from "./html.ts";
import { csrfField, errorSummary, field, layout, primaryButton, type FieldError, type View } from "./layout.ts";

export function accountPage(view: View, input: { email: string; notice?: string; sections: Html[] }): string {
  const { t } = view;
  return layout(view, {
    title: t("account.title"),
    body: html`<h1>${t("account.title")}</h1>
<p id="signed-in-as">${t("account.signedInAs", { email: input.email })}</p>
${input.notice ? html`<p class="notice" role="status">${input.notice}</p>` : ""}
${input.sections}`,
  });
}

/** A section of the account page: a labelled region with a heading. */
export function accountSection(id: string, heading: string, body: Html): Html {
  return html`<section id="${id}" aria-labelledby="${id}-heading">
<h2 id="${id}-heading">${heading}</h2>
${body}
</section>`;
}

/** A page under /account reached from the account page: its heading, its body, and the way back. */
export function accountSubpage(view: View, input: { title: string; body: Html }): { title: string; body: Html } {
  return {
    title: input.title,
    body: html`<h1>${input.title}</h1>
${input.body}
<p><a href="/account">${view.t("account.back")}</a></p>`,
  };
}

export function changePasswordPage(view: View, input: { csrfToken: string; minLength: number; error?: FieldError }) {
  const { t } = view;
  const invalid = (name: string) => input.error?.field === name;
  return accountSubpage(view, {
    title: t("account.password.title"),
    body: html`${errorSummary(view, input.error ? [input.error] : [])}
<form method="post" action="/account/password" novalidate>
${csrfField(input.csrfToken)}
${field({ id: "current", label: t("account.password.current"), type: "password", autocomplete: "current-password", invalid: invalid("current"), autofocus: !input.error || invalid("current") })}
${field({ id: "password", label: t("reset.choose.password"), type: "password", autocomplete: "new-password", invalid: invalid("password"), autofocus: invalid("password") })}
<p class="muted">${t("reset.choose.hint", { min: input.minLength })}</p>
${field({ id: "repeat", label: t("reset.choose.repeat"), type: "password", autocomplete: "new-password", invalid: invalid("repeat"), autofocus: invalid("repeat") })}
${primaryButton(t("reset.choose.submit"))}
</form>`,
  });
}

/** A time as the account page shows it: in the page's language, in UTC (said so). */
export function formatTime(view: View, time: Date): string {
  return `${new Intl.DateTimeFormat(view.locale, { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" }).format(time)} UTC`;
}

/** After signing out from the account page (this browser, or everywhere). */
export function signedOutPage(view: View, message: string): { title: string; body: Html } {
  const { t } = view;
  return {
    title: t("loggedOut.title"),
    body: html`<h1>${t("loggedOut.title")}</h1>
<p>${message}</p>
<p><a href="/account">${t("account.signInAgain")}</a></p>`,
  };
}
