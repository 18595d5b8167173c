// "Sign in with a passkey": the form the passkey script (http/assets/passkey-sign-in.js) shows and
// posts, on the sign-in page and on the second-factor step.
import { html } from "./html.ts";
import { csrfField, type View } from "./layout.ts";

/**
 * "Sign in with a passkey": hidden until its script (the one the page loads) finds WebAuthn in the
 * browser, so without script the page offers only what works without it. The script fills in the
 * signed assertion and posts this form.
 */
export function passkeyForm(view: View, uid: string, csrfToken: string, scriptHref: string) {
  const { t } = view;
  return html`<form id="passkey-form" method="post" action="/interaction/${uid}/passkey" data-options="/interaction/${uid}/passkey/options" data-failed="${t("passkey.failed")}" hidden>
${csrfField(csrfToken)}
<input type="hidden" name="credential" value="">
<button type="button" id="passkey-button" class="button-secondary">${t("passkey.signIn")}</button>
<p id="passkey-status" role="status"></p>
</form>
<script src="${scriptHref}" defer></script>`;
}

