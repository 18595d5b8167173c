// The second-factor pages: the code from an authenticator app (or a recovery code, or a passkey
// when the passkeys module offers one), setting up an app (its QR code drawn on the server as SVG,
// no script, and its key as text for those who cannot scan), and the recovery codes, shown once.
// Used inside a sign-in and on the account page alike.
import QRCode from "qrcode";
import { html, trusted, type Html } from "./html.ts";
import { buttonForm, continueTo, csrfField, errorSummary, field, layout, primaryButton, type ClientBrand, type FieldError, type View } from "./layout.ts";

/** An otpauth:// URI as an SVG QR code, labelled for screen readers (the key is shown as text beside it). */
export async function qrCodeSvg(uri: string, label: string): Promise<Html> {
  const svg = await QRCode.toString(uri, { type: "svg", errorCorrectionLevel: "M", margin: 2, width: 200 });
  // The SVG is the library's, from our own URI; only the opening tag is touched, to name it.
  return trusted(svg.replace("<svg ", html`<svg role="img" aria-label="${label}" focusable="false" `.value));
}

/** A base32 key in groups of four, easier to type. */
const grouped = (secret: string) => secret.match(/.{1,4}/g)!.join(" ");

function codeField(view: View, id: string, label: string, error: FieldError | undefined, numeric: boolean): Html {
  return field({ id, label, type: "text", autocomplete: numeric ? "one-time-code" : "off", inputmode: numeric ? "numeric" : undefined, invalid: !!error, autofocus: true });
}

export type SecondFactorPageInput = {
  uid: string;
  csrfToken: string;
  client: ClientBrand;
  /** Which form: the app's code, or a recovery code. */
  method: "totp" | "recovery";
  /** Whether the person has an authenticator app (else only other offers are shown). */
  totp: boolean;
  /** The passkeys module's button, when the person has a passkey. */
  passkeyOffer?: Html;
  error?: FieldError;
};

/** Asks for the missing factor of a sign-in. */
export function secondFactorPage(view: View, input: SecondFactorPageInput): string {
  const { t } = view;
  const action = `/interaction/${input.uid}/second-factor`;
  const form =
    !input.totp
      ? input.passkeyOffer
        ? html``
        : html`<p>${t("secondFactor.unavailable")}</p>`
      : input.method === "totp"
        ? html`<p>${t("secondFactor.intro")}</p>
<form method="post" action="${action}/totp" novalidate>
${csrfField(input.csrfToken)}
${codeField(view, "code", t("secondFactor.code"), input.error, true)}
${primaryButton(t("secondFactor.submit"))}
</form>
<p><a href="${action}?method=recovery">${t("secondFactor.useRecovery")}</a></p>`
        : html`<p>${t("secondFactor.recovery.intro")}</p>
<form method="post" action="${action}/recovery" novalidate>
${csrfField(input.csrfToken)}
${codeField(view, "recovery_code", t("secondFactor.recovery.field"), input.error, false)}
${primaryButton(t("secondFactor.submit"))}
</form>
<p><a href="${action}">${t("secondFactor.useTotp")}</a></p>`;
  return layout(view, {
    title: t("secondFactor.title"),
    client: input.client,
    body: html`<h1>${t("secondFactor.title")}</h1>
${continueTo(view, input.client)}
${errorSummary(view, input.error ? [input.error] : [])}
${form}
${input.passkeyOffer ?? ""}
${buttonForm(`/interaction/${input.uid}/abort`, input.csrfToken, t("login.cancel"), "link")}`,
  });
}

export type TotpEnrolmentInput = {
  /** Where the code is posted, and what else the page says (inside a sign-in: why it is asked). */
  action: string;
  csrfToken: string;
  client?: ClientBrand;
  intro?: string;
  qr: Html;
  secret: string;
  /** The enrolment shown (accounts/second-factors.ts): the form carries it back, so only this page confirms it. */
  enrolment: string;
  error?: FieldError;
  /** A Cancel form's action, inside a sign-in. */
  cancelAction?: string;
  /** A link back, on the account page. */
  backHref?: { href: string; label: string };
};

/** Setting up an authenticator app: scan (or type the key), then confirm with a code. The page's body. */
export function totpEnrolmentBody(view: View, input: TotpEnrolmentInput): Html {
  const { t } = view;
  return html`<h1>${t("secondFactor.enrol.title")}</h1>
${continueTo(view, input.client)}
${errorSummary(view, input.error ? [input.error] : [])}
${input.intro ? html`<p>${input.intro}</p>` : ""}
<p>${t("secondFactor.enrol.intro")}</p>
<p class="qr-code">${input.qr}</p>
<p>${t("secondFactor.enrol.secret")}</p>
<p class="confirmation-code" id="totp-secret">${grouped(input.secret)}</p>
<form method="post" action="${input.action}" novalidate>
${csrfField(input.csrfToken)}
<input type="hidden" name="enrolment" value="${input.enrolment}">
${codeField(view, "code", t("secondFactor.code"), input.error, true)}
${primaryButton(t("secondFactor.enrol.submit"))}
</form>
${input.cancelAction ? buttonForm(input.cancelAction, input.csrfToken, t("login.cancel"), "link") : ""}
${input.backHref ? html`<p><a href="${input.backHref.href}">${input.backHref.label}</a></p>` : ""}`;
}

/** Setting up an authenticator app, as a whole page (inside a sign-in). */
export function totpEnrolmentPage(view: View, input: TotpEnrolmentInput): string {
  return layout(view, { title: view.t("secondFactor.enrol.title"), client: input.client, body: totpEnrolmentBody(view, input) });
}

/** The recovery codes, shown once, and the way on: a form that carries on (a sign-in), or a link (the account page). */
export function recoveryCodesBody(view: View, input: { codes: string[]; continueAction?: string; continueHref?: string; csrfToken: string; client?: ClientBrand }): Html {
  const { t } = view;
  const label = t("secondFactor.recoveryCodes.continue");
  return html`<h1>${t("secondFactor.recoveryCodes.title")}</h1>
${continueTo(view, input.client)}
<p>${t("secondFactor.recoveryCodes.intro")}</p>
<h2 id="recovery-codes-title">${t("secondFactor.recoveryCodes.list")}</h2>
<ul class="recovery-codes" id="recovery-codes" aria-labelledby="recovery-codes-title">
${input.codes.map((code) => html`<li><code>${code}</code></li>`)}
</ul>
${input.continueAction ? buttonForm(input.continueAction, input.csrfToken, label, "primary") : html`<p><a href="${input.continueHref ?? "/"}">${label}</a></p>`}`;
}

/** The recovery codes as a whole page (inside a sign-in). */
export function recoveryCodesPage(view: View, input: { codes: string[]; continueAction: string; csrfToken: string; client?: ClientBrand }): string {
  return layout(view, { title: view.t("secondFactor.recoveryCodes.title"), client: input.client, body: recoveryCodesBody(view, input) });
}
