// The passkey forms the passkey script (http/assets/passkey-sign-in.js) shows and posts: "Sign in
// with a passkey" on the sign-in page and the second-factor step, and "Add a passkey" with the
// passkeys section of the account page.
import { html, type Html } from "./html.ts";
import { csrfField, errorSummary, field, type FieldError, type View } from "./layout.ts";
import { accountSection, accountSubpage } from "./account.ts";

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


type ListedPasskey = { id: string; name: string; deviceType: "singleDevice" | "multiDevice"; backedUp: boolean; createdAt: Date; lastUsedAt: Date | null };

/** The account page's passkeys section: each passkey with its rename and remove forms, and "Add a passkey". */
export function passkeysSectionBody(view: View, input: { csrfToken: string; passkeys: ListedPasskey[]; removable: boolean; addHref: string }): Html {
  const { t } = view;
  const date = (value: Date) => new Intl.DateTimeFormat(view.locale, { dateStyle: "medium" }).format(value);
  return accountSection(
    "passkeys",
    t("account.passkeys.heading"),
    html`<p>${t("account.passkeys.intro")}</p>
${input.passkeys.length === 0 ? html`<p>${t("account.passkeys.none")}</p>` : html`<ul class="passkeys">
${input.passkeys.map(
  (passkey, index) => html`<li>
<p><strong>${passkey.name}</strong><br>${passkey.deviceType === "multiDevice" || passkey.backedUp ? t("account.passkeys.synced") : t("account.passkeys.deviceBound")} · ${t("account.passkeys.added", { date: date(passkey.createdAt) })} · ${passkey.lastUsedAt ? t("account.passkeys.lastUsed", { date: date(passkey.lastUsedAt) }) : t("account.passkeys.notUsed")}</p>
<form method="post" action="/account/passkeys/${passkey.id}/rename">
${csrfField(input.csrfToken)}
<label for="passkey-name-${index}">${t("account.passkeys.newName", { name: passkey.name })}</label>
<input id="passkey-name-${index}" name="name" type="text" autocomplete="off" required maxlength="100" value="${passkey.name}">
<button type="submit" class="button-secondary">${t("account.passkeys.rename")}</button>
</form>
${input.removable ? html`<form method="post" action="/account/passkeys/${passkey.id}/remove">
${csrfField(input.csrfToken)}
<button type="submit" class="button-secondary">${t("account.passkeys.remove", { name: passkey.name })}</button>
</form>` : ""}
</li>`,
)}
</ul>`}
<p><a href="${input.addHref}">${t("account.passkeys.add")}</a></p>`,
  );
}

/**
 * "Add a passkey": a name, and the button the passkey script shows (it asks the browser to create
 * the passkey and posts it here). Without script or WebAuthn the page says so instead.
 */
export function addPasskeyPage(view: View, input: { csrfToken: string; scriptHref: string; action: string; error?: FieldError }) {
  const { t } = view;
  return accountSubpage(view, {
    title: t("account.passkeys.addTitle"),
    body: html`${errorSummary(view, input.error ? [input.error] : [])}
<p>${t("account.passkeys.addIntro")}</p>
<p id="passkey-unsupported">${t("account.passkeys.unsupported")}</p>
<form id="passkey-register-form" method="post" action="${input.action}" data-options="${input.action}/options" data-failed="${t("account.passkeys.failed")}" hidden>
${csrfField(input.csrfToken)}
<input type="hidden" name="credential" value="">
${field({ id: "name", label: t("account.passkeys.name"), type: "text", autocomplete: "off", value: t("account.passkeys.defaultName") })}
<button type="button" id="passkey-register-button" class="button-primary">${t("account.passkeys.create")}</button>
<p id="passkey-register-status" role="status"></p>
</form>
<script src="${input.scriptHref}" defer></script>`,
  });
}
