// The one passkey script: "Sign in with a passkey" and the browser's passkey autofill on the
// sign-in page (and the second-factor step), and "Add a passkey" on the account page.
// It uses the browser's own WebAuthn JSON helpers (parseRequestOptionsFromJSON, toJSON), so no
// library is bundled; where they are missing the passkey form stays hidden and the page offers
// its other methods, exactly as without script. The options come from a POST carrying the page's
// CSRF token; the signed assertion goes back in the passkey form, a normal form post, so the
// server's answer (the application, or the page with an error) is an ordinary navigation.
(() => {
  "use strict";
  /** POSTs {} with the page's CSRF token; the JSON options it answers. */
  async function fetchOptions(form) {
    const response = await fetch(form.dataset.options, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "csrf-token": form.querySelector('input[name="_csrf"]').value },
      body: "{}",
    });
    if (!response.ok) throw new Error(`passkey options: HTTP ${response.status}`);
    return response.json();
  }

  // "Add a passkey": create one with the options for the signed-in person, post it with its name.
  const registration = document.getElementById("passkey-register-form");
  if (
    registration &&
    typeof window.PublicKeyCredential === "function" &&
    typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function" &&
    typeof PublicKeyCredential.prototype.toJSON === "function"
  ) {
    const status = document.getElementById("passkey-register-status");
    document.getElementById("passkey-unsupported").hidden = true;
    registration.hidden = false;
    document.getElementById("passkey-register-button").addEventListener("click", async () => {
      status.textContent = "";
      try {
        const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(await fetchOptions(registration));
        const credential = await navigator.credentials.create({ publicKey });
        if (!credential) throw new Error("no credential");
        registration.querySelector('input[name="credential"]').value = JSON.stringify(credential.toJSON());
        registration.submit();
      } catch {
        status.textContent = registration.dataset.failed;
      }
    });
  }

  const form = document.getElementById("passkey-form");
  const supported =
    typeof window.PublicKeyCredential === "function" &&
    typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function" &&
    typeof PublicKeyCredential.prototype.toJSON === "function";
  if (!form || !supported) return;
  const button = document.getElementById("passkey-button");
  const status = document.getElementById("passkey-status");
  /** The request in progress (autofill waits until the person picks a passkey): one at a time. */
  let current;

  async function requestOptions() {
    return PublicKeyCredential.parseRequestOptionsFromJSON(await fetchOptions(form));
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
