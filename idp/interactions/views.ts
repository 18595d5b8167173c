// The pages people see: sign-in, consent, logout and errors. Server-rendered, no JavaScript,
// every value escaped by the html template.
import { html, type Html } from "../pages/html.ts";

export const STYLESHEET_PATH = "/assets/idp.css";

export const stylesheet = `
:root { color-scheme: light dark; font-family: system-ui, sans-serif; }
body { margin: 0; min-height: 100vh; display: grid; place-items: center; background: Canvas; color: CanvasText; }
main { width: min(24rem, 100% - 2rem); padding: 2rem; border: 1px solid GrayText; border-radius: 0.75rem; }
h1 { font-size: 1.4rem; margin: 0 0 1rem; }
label { display: block; margin: 1rem 0 0.25rem; font-weight: 600; }
input[type=email], input[type=password] { box-sizing: border-box; width: 100%; padding: 0.6rem; font-size: 1rem; }
button { margin-top: 1.25rem; padding: 0.6rem 1rem; font-size: 1rem; cursor: pointer; }
.actions { display: flex; gap: 0.75rem; }
.error { padding: 0.75rem; border: 1px solid #b00020; border-radius: 0.5rem; color: #b00020; }
.muted { color: GrayText; font-size: 0.9rem; }
button.link { margin-top: 0.5rem; padding: 0; border: 0; background: none; color: LinkText; text-decoration: underline; }
:focus-visible { outline: 3px solid Highlight; outline-offset: 2px; }
`;

function page(title: string, body: Html): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title}</title>
<link rel="stylesheet" href="${STYLESHEET_PATH}">
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`.value;
}

function errorBox(message: string | undefined): Html {
  return html`${message ? html`<p class="error" role="alert" id="form-error">${message}</p>` : ""}`;
}

export function loginPage(input: { uid: string; csrfToken: string; clientName: string; email?: string; error?: string }): string {
  const described = input.error ? html` aria-describedby="form-error" aria-invalid="true"` : "";
  return page(
    "Sign in",
    html`<h1>Sign in</h1>
<p class="muted">to continue to ${input.clientName}</p>
${errorBox(input.error)}
<form method="post" action="/interaction/${input.uid}/login" novalidate>
<input type="hidden" name="_csrf" value="${input.csrfToken}">
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="username" required value="${input.email ?? ""}"${described}>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required${described}>
<button type="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${input.uid}/abort">
<input type="hidden" name="_csrf" value="${input.csrfToken}">
<button type="submit" class="link">Cancel</button>
</form>`,
  );
}

export function consentPage(input: { uid: string; csrfToken: string; clientName: string; scopes: string[] }): string {
  return page(
    "Allow access",
    html`<h1>Allow ${input.clientName}?</h1>
<p>${input.clientName} is asking to:</p>
<ul>
${input.scopes.map((scope) => html`<li>${describeScope(scope)}</li>`)}
</ul>
<div class="actions">
<form method="post" action="/interaction/${input.uid}/confirm">
<input type="hidden" name="_csrf" value="${input.csrfToken}">
<button type="submit">Allow</button>
</form>
<form method="post" action="/interaction/${input.uid}/abort">
<input type="hidden" name="_csrf" value="${input.csrfToken}">
<button type="submit">Deny</button>
</form>
</div>`,
  );
}

const SCOPE_DESCRIPTIONS: Record<string, string> = {
  openid: "Know who you are",
  email: "See your email address",
  profile: "See your name and picture",
  offline_access: "Stay signed in when you are away",
};

function describeScope(scope: string): string {
  return SCOPE_DESCRIPTIONS[scope] ?? scope;
}

export function errorPage(input: { title: string; message: string }): string {
  return page(input.title, html`<h1>${input.title}</h1>\n<p>${input.message}</p>`);
}

/** Wraps oidc-provider's logout form (which carries its own anti-CSRF token) in our layout. */
export function logoutPage(form: Html, clientName: string | undefined): string {
  return page(
    "Sign out",
    html`<h1>Sign out?</h1>
<p>${clientName ? `Sign out of ${clientName} and this identity provider?` : "Sign out of this identity provider?"}</p>
${form}
<div class="actions">
<button type="submit" form="op.logoutForm" name="logout" value="yes" autofocus>Sign out</button>
<button type="submit" form="op.logoutForm">Stay signed in</button>
</div>`,
  );
}

export function loggedOutPage(clientName: string | undefined): string {
  return page(
    "Signed out",
    html`<h1>Signed out</h1>\n<p>${clientName ? `You have signed out of ${clientName}.` : "You have signed out."}</p>`,
  );
}
