// The page every error is shown as (idp/http/error-responses.ts decides when): what happened in
// the visitor's language, and for a refused request the provider's precise reason, for developers.
import { html } from "./html.ts";
import { layout, type View } from "./layout.ts";

export function errorPage(view: View, input: { title: string; message: string; code: string; description?: string }): string {
  return layout(view, {
    title: input.title,
    errorCode: input.code,
    body: html`<h1>${input.title}</h1>
<p>${input.message}</p>
${input.description ? html`<p class="muted" lang="en">${input.description}</p>` : ""}
<p class="error-code">${view.t("error.code", { code: input.code })}</p>`,
  });
}
