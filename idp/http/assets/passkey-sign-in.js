// The sign-in page's one script: "Sign in with a passkey" and the browser's passkey autofill.
// It uses the browser's own WebAuthn JSON helpers (parseRequestOptionsFromJSON, toJSON), so no
// library is bundled; where they are missing the passkey form stays hidden and the page offers
// its other methods, exactly as without script. The options come from a POST carrying the page's
// CSRF token; the signed assertion goes back in the passkey form, a normal form post, so the
// server's answer (the application, or the page with an error) is an ordinary navigation.
(() => {
  "use strict";
  const form = document.getElementById("passkey-form");
  const supported =
    typeof window.PublicKeyCredential === "function" &&
    typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function" &&
    typeof PublicKeyCredential.prototype.toJSON === "function";
  if (!form || !supported) return;
  const button = document.getElementById("passkey-button");
  const status = document.getElementById("passkey-status");
  const csrf = form.querySelector('input[name="_csrf"]').value;
  /** The request in progress (autofill waits until the person picks a passkey): one at a time. */
  let current;

  async function requestOptions() {
    const response = await fetch(form.dataset.options, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "csrf-token": csrf },
      body: "{}",
    });
    if (!response.ok) throw new Error(`passkey options: HTTP ${response.status}`);
    return PublicKeyCredential.parseRequestOptionsFromJSON(await response.json());
  }

  async function signIn(mediation) {
    current?.abort();
    const controller = new AbortController();
    current = controller;
    const publicKey = await requestOptions();
    const credential = await navigator.credentials.get({ publicKey, mediation, signal: controller.signal });
    if (!credential || controller.signal.aborted) return;
    form.querySelector('input[name="credential"]').value = JSON.stringify(credential.toJSON());
    form.submit();
  }

  const failed = (error) => {
    // Aborted: replaced by a newer request (the button took over from autofill).
    if (error?.name === "AbortError") return;
    status.textContent = form.dataset.failed;
  };

  form.hidden = false;
  button.addEventListener("click", () => {
    status.textContent = "";
    signIn("optional").catch(failed);
  });
  // Autofill needs a field that offers passkeys (the sign-in page's email); the second-factor step has none.
  const autofillField = document.querySelector('input[autocomplete~="webauthn"]');
  if (autofillField && typeof PublicKeyCredential.isConditionalMediationAvailable === "function") {
    PublicKeyCredential.isConditionalMediationAvailable().then(
      (available) => available && signIn("conditional").catch(() => {}),
      () => {},
    );
  }
})();
