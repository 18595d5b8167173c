// What every page shares: the view of one request (language, brand, stylesheet), the document
// layout, and the form components (field, error summary, buttons). Everything is escaped by html``.
import { html, type Html } from "./html.ts";
import { negotiateLocale, translator, type Locale, type Translate } from "./i18n.ts";
import type { Brand } from "./brand.ts";
import type { Stylesheet } from "./stylesheet.ts";

/** The application a person is signing in to, as the sign-in pages show it. */
export type ClientBrand = { name: string; logoUri?: string | null };

/** One request's view: its language and the organisation's brand. */
export type View = { locale: Locale; t: Translate; brand: Brand; stylesheet: Stylesheet };

export type Views = {
  /** The view for a request: `ui_locales` first, then Accept-Language, then DEFAULT_LOCALE. */
  forRequest(input: { uiLocales?: unknown; acceptLanguage?: unknown }): View;
  brand: Brand;
  stylesheet: Stylesheet;
};

export function createViews(options: { brand: Brand; stylesheet: Stylesheet; defaultLocale: Locale }): Views {
  const { brand, stylesheet, defaultLocale } = options;
  return {
    brand,
    stylesheet,
    forRequest(input) {
      const locale = negotiateLocale({ ...input, fallback: defaultLocale });
      return { locale, t: translator(locale), brand, stylesheet };
    },
  };
}

export type PageInput = {
  title: string;
  body: Html;
  /** The application, shown as "to continue to <app>" under the heading. */
  client?: ClientBrand;
  /** Marks an error page with its code (for people reporting it, and for tests). */
  errorCode?: string;
};

export function layout(view: View, input: PageInput): string {
  const { t, brand } = view;
  return html`<!doctype html>
<html lang="${view.locale}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex">
<title>${input.title} – ${brand.name}</title>
<link rel="stylesheet" href="${view.stylesheet.href}">
</head>
<body>
<a class="skip-link" href="#content">${t("layout.skipToContent")}</a>
<header class="brand">
${brand.logoUrl ? html`<img src="${brand.logoUrl}" alt="" height="48">` : ""}
<span class="brand-name">${brand.name}</span>
</header>
<main id="content"${input.errorCode ? html` data-error="${input.errorCode}"` : ""}>
${input.body}
</main>
</body>
</html>
`.value;
}

/** "to continue to <app>", with the application's logo when it has one. */
export function continueTo(view: View, client: ClientBrand | undefined): Html {
  if (!client) return html``;
  return html`<p class="client">${client.logoUri ? html`<img src="${client.logoUri}" alt="">` : ""}<span>${view.t("layout.continueTo", { app: client.name })}</span></p>`;
}

export function csrfField(token: string): Html {
  return html`<input type="hidden" name="_csrf" value="${token}">`;
}

export type FieldError = { field?: string; message: string };

/**
 * The errors of a form, above it: announced (role=alert), each linking to its field so a click
 * or Enter puts the cursor where the fix is.
 */
export function errorSummary(view: View, errors: FieldError[]): Html {
  if (errors.length === 0) return html``;
  return html`<div class="error-summary" role="alert" aria-labelledby="error-summary-title">
<h2 id="error-summary-title">${view.t("layout.errorSummaryTitle")}</h2>
<ul>
${errors.map((error) => html`<li>${error.field ? html`<a href="#${error.field}">${error.message}</a>` : error.message}</li>`)}
</ul>
</div>`;
}

export type FieldInput = {
  id: string;
  label: string;
  type: "email" | "password" | "text" | "tel";
  autocomplete: string;
  value?: string;
  /** Set when the form's errors concern this field. */
  invalid?: boolean;
  autofocus?: boolean;
  inputmode?: string;
};

export function field(input: FieldInput): Html {
  return html`<label for="${input.id}">${input.label}</label>
<input id="${input.id}" name="${input.id}" type="${input.type}" autocomplete="${input.autocomplete}" required${
    input.value !== undefined ? html` value="${input.value}"` : ""
  }${input.invalid ? html` aria-invalid="true" aria-describedby="error-summary-title"` : ""}${input.autofocus ? html` autofocus` : ""}${
    input.inputmode ? html` inputmode="${input.inputmode}"` : ""
  }>`;
}

export function primaryButton(label: string, attributes: Html = html``): Html {
  return html`<button type="submit" class="button-primary"${attributes}>${label}</button>`;
}

/** A small form that posts only its CSRF token, shown as one button (Cancel, Deny, ...). */
export function buttonForm(action: string, csrfToken: string, label: string, style: "primary" | "secondary" | "link"): Html {
  return html`<form method="post" action="${action}">
${csrfField(csrfToken)}
<button type="submit" class="button-${style}">${label}</button>
</form>`;
}
