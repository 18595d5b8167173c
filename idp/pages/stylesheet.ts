// The one stylesheet of every page, built once at start from the brand: responsive from 320 px,
// light and dark by prefers-color-scheme, visible focus. Served as a cached file whose URL carries
// a hash of its content, so a new brand colour reaches browsers at once.
import { createHash } from "node:crypto";
import { DARK_BACKGROUND, LIGHT_BACKGROUND, schemeColors, type SchemeColors } from "./brand.ts";

export type Stylesheet = { path: string; href: string; css: string };

export const STYLESHEET_PATH = "/assets/idp.css";

const variables = (colors: SchemeColors) =>
  `--accent: ${colors.accent}; --on-accent: ${colors.onAccent}; --link: ${colors.link};`;

export function buildStylesheet(brandColor: string): Stylesheet {
  const { light, dark } = schemeColors(brandColor);
  const css = `
:root {
  color-scheme: light dark;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Noto Sans JP", sans-serif;
  line-height: 1.5;
  --page: #f3f4f6; --card: ${LIGHT_BACKGROUND}; --text: #1b1f24; --muted: #4b5563; --border: #8a94a3;
  --danger: #b3261e; --danger-bg: #fdecea;
  ${variables(light)}
}
@media (prefers-color-scheme: dark) {
  :root {
    --page: #0f1115; --card: ${DARK_BACKGROUND}; --text: #e8eaed; --muted: #aeb6c2; --border: #7b8594;
    --danger: #ffb4ab; --danger-bg: #3b1512;
    ${variables(dark)}
  }
}
*, *::before, *::after { box-sizing: border-box; }
/* The input rules below set display, which would otherwise show a hidden field (sign-up's username for password managers). */
[hidden] { display: none !important; }
body { margin: 0; min-height: 100vh; background: var(--page); color: var(--text); display: flex; flex-direction: column; align-items: center; padding: 1rem; }
.skip-link { position: absolute; left: -10000px; }
.skip-link:focus { position: static; margin-bottom: 0.5rem; }
.brand { display: flex; align-items: center; gap: 0.75rem; margin: 1.5rem 0 1rem; max-width: 100%; }
.brand img { max-height: 3rem; max-width: 10rem; }
.brand-name { font-size: 1.15rem; font-weight: 600; overflow-wrap: anywhere; }
main { width: 100%; max-width: 26rem; background: var(--card); border: 1px solid var(--border); border-radius: 0.75rem; padding: 1.5rem; overflow-wrap: anywhere; }
@media (min-width: 480px) { main { padding: 2rem; } }
h1 { font-size: 1.5rem; line-height: 1.25; margin: 0 0 0.5rem; }
p { margin: 0.5rem 0; }
a { color: var(--link); }
.client { display: flex; align-items: center; gap: 0.5rem; color: var(--muted); margin: 0 0 1rem; }
.client img { width: 1.5rem; height: 1.5rem; object-fit: contain; }
label { display: block; margin: 1rem 0 0.25rem; font-weight: 600; }
input[type=email], input[type=password], input[type=text], input[type=tel] {
  display: block; width: 100%; padding: 0.65rem 0.75rem; font: inherit; color: var(--text); background: var(--card);
  border: 1px solid var(--border); border-radius: 0.5rem;
}
input[aria-invalid=true] { border: 2px solid var(--danger); }
/* The rules above set display: the hidden attribute must still hide (a form's username for password managers). */
[hidden] { display: none !important; }
.field-error { color: var(--danger); margin: 0.25rem 0 0; font-size: 0.95rem; }
button { font: inherit; cursor: pointer; border-radius: 0.5rem; padding: 0.65rem 1rem; min-height: 2.75rem; }
.button-primary { width: 100%; margin-top: 1.5rem; background: var(--accent); color: var(--on-accent); border: 1px solid var(--accent); font-weight: 600; }
a.button-primary { display: block; text-align: center; text-decoration: none; padding: 0.65rem 1rem; border-radius: 0.5rem; }
.button-secondary { background: transparent; color: var(--text); border: 1px solid var(--border); }
.upstreams { list-style: none; padding: 0; margin: 1rem 0 0; } .upstreams li + li { margin-top: 0.75rem; } .upstreams a { display: block; text-align: center; text-decoration: none; padding: 0.65rem 1rem; border-radius: 0.5rem; min-height: 2.75rem; box-sizing: border-box; }
/* A second way to send the same form ("Email me a sign-in code" under "Sign in"): as wide, and apart from it. */
.button-primary + .button-secondary { width: 100%; margin-top: 0.75rem; }
.button-link { background: none; border: 0; padding: 0.5rem 0; min-height: auto; color: var(--link); text-decoration: underline; }
.actions { display: flex; flex-wrap: wrap; gap: 0.75rem; margin-top: 1.5rem; }
.actions form { flex: 1 1 8rem; }
.actions button { width: 100%; }
.actions .button-primary { margin-top: 0; }
.error-summary { border: 2px solid var(--danger); background: var(--danger-bg); border-radius: 0.5rem; padding: 0.75rem 1rem; margin: 1rem 0; }
.error-summary h2 { font-size: 1rem; margin: 0 0 0.25rem; }
.error-summary ul { margin: 0; padding-left: 1.25rem; }
.error-summary a { color: var(--danger); font-weight: 600; }
.scopes { padding-left: 1.25rem; }
.muted, .error-code { color: var(--muted); font-size: 0.9rem; }
.confirmation-code { font: 700 1.75rem/1.2 ui-monospace, Menlo, Consolas, monospace; letter-spacing: 0.2em; margin: 0.5rem 0 1rem; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 0.5rem; }
/* The sign-up honeypot: off-screen for people, present for bots. The proof-of-work widget works unseen. */
.form-trap { position: absolute; left: -10000px; width: 1px; height: 1px; overflow: hidden; }
altcha-widget { display: none; }
:focus-visible { outline: 3px solid var(--link); outline-offset: 2px; }
/* The account page (/account): its sections, their lists (sessions, apps, events) and the notice after an action. */
main section + section { margin-top: 1.5rem; }
.notice { border: 1px solid var(--border); border-left: 0.35rem solid var(--accent); border-radius: 0.5rem; padding: 0.5rem 0.75rem; }
.account-list { list-style: none; padding: 0; margin: 0.5rem 0; }
.account-list li { border-top: 1px solid var(--border); padding: 0.5rem 0; display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between; gap: 0.5rem; }
.account-list form { margin: 0; }
/* The admin console (pages/admin.ts): wide tables, scrolled sideways on a phone. */
main:has(.table-scroll) { max-width: 64rem; }
.table-scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 0.95rem; }
caption { text-align: left; font-weight: 600; margin: 1rem 0 0.25rem; }
th, td { text-align: left; vertical-align: top; padding: 0.4rem 0.5rem; border-bottom: 1px solid var(--border); }
td code { overflow-wrap: anywhere; }
.admin-nav { padding-left: 1.25rem; }
.admin-actions { display: flex; flex-wrap: wrap; gap: 0.5rem; }
input[type=search] { display: block; width: 100%; padding: 0.65rem 0.75rem; font: inherit; color: var(--text); background: var(--card); border: 1px solid var(--border); border-radius: 0.5rem; margin-bottom: 0.5rem; }
`;
  const hash = createHash("sha256").update(css).digest("base64url").slice(0, 12);
  return { path: STYLESHEET_PATH, href: `${STYLESHEET_PATH}?v=${hash}`, css };
}
