// The checks every page of the IdP passes in Chromium, shared by the page matrices: nothing sticks
// out past the right edge, axe-core's serious and critical findings, and the markup rules (no inline
// script or handler, a CSRF token in every form, autocomplete on every input).
import { writeFile } from "node:fs/promises";
import axe from "axe-core";
import type { Page } from "playwright-core";

/** Why the page is wider than the viewport: the page's scroll width, and every element sticking out. */
export async function overflow(page: Page): Promise<{ scrollWidth: number; clientWidth: number; offenders: string[] }> {
  return page.evaluate(() => {
    const root = document.documentElement;
    const name = (element: Element) =>
      element.tagName.toLowerCase() +
      (element.id ? `#${element.id}` : "") +
      [...element.classList].map((value) => `.${value}`).join("") +
      ` "${(element.textContent ?? "").trim().replace(/\s+/g, " ").slice(0, 40)}"`;
    const offenders: string[] = [];
    for (const element of document.body.querySelectorAll("*")) {
      const box = element.getBoundingClientRect();
      if (box.width === 0 && box.height === 0) continue;
      // Half a pixel of rounding is not overflow.
      if (box.right > root.clientWidth + 0.5) offenders.push(`${name(element)}: right edge at ${box.right.toFixed(1)} px`);
    }
    return { scrollWidth: root.scrollWidth, clientWidth: root.clientWidth, offenders };
  });
}

/**
 * axe's serious and critical violations as readable lines: rule, impact, element, what is wrong.
 * axe-core runs in the page itself (injected once per document): our pages have no frames, and
 * AxeBuilder's frame merging opens a blank page per run, which costs ten times the check.
 */
export async function axeProblems(page: Page, artefact: string): Promise<string[]> {
  if (!(await page.evaluate(() => "axe" in window))) await page.evaluate(axe.source);
  const violations = await page.evaluate(async () => (await (window as unknown as { axe: typeof axe }).axe.run(document, { resultTypes: ["violations"] })).violations);
  // The whole result (moderate and minor findings too) is kept next to the screenshot.
  await writeFile(`${artefact}.axe.json`, JSON.stringify(violations, null, 2));
  return violations
    .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
    .flatMap((violation) =>
      violation.nodes.map(
        (node) => `${violation.id} (${violation.impact}) at ${node.target.join(" ")}: ${(node.failureSummary ?? violation.help).replace(/\s+/g, " ")}`,
      ),
    );
}

/** What breaks the markup rules: inline scripts and handlers, forms without a CSRF token, inputs without autocomplete. */
export async function markupProblems(page: Page) {
  return page.evaluate(() => ({
    inlineScripts: [...document.querySelectorAll("script:not([src])")].map((script) => script.outerHTML.slice(0, 120)),
    handlers: [...document.querySelectorAll("*")].flatMap((element) =>
      element.getAttributeNames().filter((attribute) => /^on/i.test(attribute)).map((attribute) => `${element.tagName.toLowerCase()}[${attribute}]`),
    ),
    formsWithoutToken: [...document.forms]
      .filter((form) => {
        const hidden = (field: string) => form.querySelector(`input[type="hidden"][name="${field}"]`)?.getAttribute("value");
        // oidc-provider's forms (sign-out, a device's code) carry its own anti-CSRF token, xsrf.
        return !hidden("_csrf") && !(["op.logoutForm", "op.deviceInputForm", "op.deviceConfirmForm"].includes(form.id) && hidden("xsrf"));
      })
      .map((form) => form.outerHTML.slice(0, 120)),
    inputsWithoutAutocomplete: [...document.querySelectorAll("input, select, textarea")]
      .filter((input) => !["hidden", "submit", "button", "reset", "image"].includes(input.getAttribute("type") ?? ""))
      .filter((input) => !input.getAttribute("autocomplete")?.trim())
      .map((input) => input.outerHTML),
  }));
}

/** No markup problem at all, as markupProblems reports it. */
export const NO_MARKUP_PROBLEMS = { inlineScripts: [], handlers: [], formsWithoutToken: [], inputsWithoutAutocomplete: [] };

/**
 * Form controls too small to use: a field or button under 24 × 24 CSS px (WCAG 2.2's minimum
 * target size), or a field whose text is under 16 px (hard to read, and mobile Safari zooms in).
 */
export async function smallControls(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll("input:not([type=hidden]), button")].flatMap((control) => {
      const box = control.getBoundingClientRect();
      if (box.width === 0 && box.height === 0) return []; // not shown
      if (control.closest("[aria-hidden=true]")) return []; // the sign-up honeypot, off-screen for people
      const what = `${control.tagName.toLowerCase()}${control.id ? `#${control.id}` : ""}`;
      const problems: string[] = [];
      if (box.width < 24 || box.height < 24) problems.push(`${what} is ${box.width.toFixed(0)} × ${box.height.toFixed(0)} px`);
      const fontSize = parseFloat(getComputedStyle(control).fontSize);
      if (control.tagName === "INPUT" && fontSize < 16) problems.push(`${what} has ${fontSize} px text`);
      return problems;
    }),
  );
}
