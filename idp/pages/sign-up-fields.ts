// What the sign-up form carries against spam, as markup for inside its <form>: the signed render
// stamp, the honeypot (off-screen through a stylesheet class, hidden from assistive technology,
// out of the tab order), and, when proof of work is on, the ALTCHA widget and its one script,
// which solves in the background. Without script the form works the same: the widget stays empty.
import { html, type Html } from "./html.ts";
import type { View } from "./layout.ts";

/** The values of one rendered form, from the sign-up guard's formFields(). */
export type SignUpFormFields = {
  stamp: { name: string; value: string };
  honeypot: { name: string };
  proofOfWork?: {
    /** The form field the widget puts its solution in. */
    name: string;
    /** Where the widget fetches a challenge (JSON), same origin. */
    challengeUrl: string;
    /** The widget's script, served by the IdP under /assets/. */
    scriptHref: string;
  };
};

/** The stylesheet class that moves the honeypot off-screen (CSP forbids inline styles). */
export const HONEYPOT_CLASS = "form-trap";

/** The honeypot's element id (its name is the guard's). */
const HONEYPOT_ID = "sign-up-trap";

export function signUpFields(view: View, fields: SignUpFormFields): Html {
  const pow = fields.proofOfWork;
  // The widget's own options: nothing shown (it works unseen), no link, no pointer tracking.
  const widgetOptions = JSON.stringify({ hideFooter: true, hideLogo: true, humanInteractionSignature: false });
  return html`<input type="hidden" name="${fields.stamp.name}" value="${fields.stamp.value}">
<div class="${HONEYPOT_CLASS}" aria-hidden="true">
<label for="${HONEYPOT_ID}">${view.t("signUp.spam.honeypotLabel")}</label>
<input id="${HONEYPOT_ID}" name="${fields.honeypot.name}" type="text" value="" tabindex="-1" autocomplete="off">
</div>${
    pow
      ? html`
<altcha-widget name="${pow.name}" challenge="${pow.challengeUrl}" auto="onload" display="invisible" configuration="${widgetOptions}"></altcha-widget>
<script type="module" src="${pow.scriptHref}"></script>`
      : ""
  }`;
}
