// Every page in a real Chromium at 320, 390 and 1280 px, light and dark: no horizontal overflow,
// no serious or critical axe violation, and a screenshot of each kept in test-artifacts/pages/
// (looked at by people, never compared by pixel). Also, per page: no inline script, a CSRF token
// in every form, autocomplete on every input, no CSP violation, and the sign-in error summary
// leading to the field it is about.
import { mkdir, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { AxeBuilder } from "@axe-core/playwright";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium, type Chromium } from "../support/chromium.ts";
import { chromiumDriver, PAGE_NAMES, reach, startSite, type PageName, type Site } from "./visit.ts";

const ARTIFACTS = fileURLToPath(new URL("../../test-artifacts/pages/", import.meta.url));
const WIDTHS = [320, 390, 1280] as const;
const SCHEMES = ["light", "dark"] as const;
const VIEWS = WIDTHS.flatMap((width) => SCHEMES.map((scheme) => [width, scheme] as const));

let site: Site;
let chromium: Chromium | undefined;

beforeAll(async () => {
  const launching = launchChromium().then((launched) => (chromium = launched));
  launching.catch(() => {});
  await mkdir(ARTIFACTS, { recursive: true });
  site = await startSite();
  await launching;
}, 120_000);

afterAll(async () => {
  await chromium?.close();
  await site?.close();
});

/** Why the page is wider than the viewport: the page's scroll width, and every element sticking out. */
async function overflow(page: Page): Promise<{ scrollWidth: number; clientWidth: number; offenders: string[] }> {
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

/** axe's serious and critical violations as readable lines: rule, impact, element, what is wrong. */
async function axeProblems(page: Page, artefact: string): Promise<string[]> {
  const results = await new AxeBuilder({ page }).analyze();
  // The whole result (moderate and minor findings too) is kept next to the screenshot.
  await writeFile(`${artefact}.axe.json`, JSON.stringify(results.violations, null, 2));
  return results.violations
    .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
    .flatMap((violation) =>
      violation.nodes.map(
        (node) => `${violation.id} (${violation.impact}) at ${node.target.join(" ")}: ${(node.failureSummary ?? violation.help).replace(/\s+/g, " ")}`,
      ),
    );
}

describe.each(PAGE_NAMES)("the %s page in Chromium", (name: PageName) => {
  let context: BrowserContext;
  let page: Page;
  const cspViolations: string[] = [];

  beforeAll(async () => {
    context = await chromium!.newContext();
    page = await context.newPage();
    page.on("console", (message) => {
      if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
    });
    await reach(site, chromiumDriver(page), name);
  }, 60_000);

  afterAll(async () => {
    await context?.close();
  });

  it("has no inline script, a CSRF token in every form, autocomplete on every input, and no CSP violation", async () => {
    const markup = await page.evaluate(() => ({
      inlineScripts: [...document.querySelectorAll("script:not([src])")].map((script) => script.outerHTML.slice(0, 120)),
      handlers: [...document.querySelectorAll("*")].flatMap((element) =>
        element.getAttributeNames().filter((attribute) => /^on/i.test(attribute)).map((attribute) => `${element.tagName.toLowerCase()}[${attribute}]`),
      ),
      formsWithoutToken: [...document.forms]
        .filter((form) => {
          const hidden = (field: string) => form.querySelector(`input[type="hidden"][name="${field}"]`)?.getAttribute("value");
          // oidc-provider's logout form carries its own anti-CSRF token, xsrf.
          return !hidden("_csrf") && !(form.id === "op.logoutForm" && hidden("xsrf"));
        })
        .map((form) => form.outerHTML.slice(0, 120)),
      inputsWithoutAutocomplete: [...document.querySelectorAll("input, select, textarea")]
        .filter((input) => !["hidden", "submit", "button", "reset", "image"].includes(input.getAttribute("type") ?? ""))
        .filter((input) => !input.getAttribute("autocomplete")?.trim())
        .map((input) => input.outerHTML),
    }));
    expect(markup).toEqual({ inlineScripts: [], handlers: [], formsWithoutToken: [], inputsWithoutAutocomplete: [] });
    expect(cspViolations).toEqual([]);
  });

  if (name === "sign-in" || name === "sign-in-error") {
    it("asks for the email as username and the password as current-password", async () => {
      expect(await page.locator('input[name="email"]').getAttribute("autocomplete")).toBe("username");
      expect(await page.locator('input[name="password"]').getAttribute("autocomplete")).toBe("current-password");
    });
  }

  if (name === "sign-in-error") {
    it("links the error summary to the field it is about, which is marked invalid", async () => {
      const links = page.locator('a[href="#email"], a[href="#password"]');
      expect(await links.count(), "a link to #email or #password in the error summary").toBeGreaterThan(0);
      for (const href of await links.evaluateAll((anchors) => anchors.map((anchor) => anchor.getAttribute("href")!))) {
        const field = page.locator(href);
        expect(await field.count(), `the field ${href} exists`).toBe(1);
        expect(await field.getAttribute("aria-invalid"), `${href} is marked invalid`).toBe("true");
      }
    });
  }

  it.each(VIEWS)("at %i px, %s: no horizontal overflow, no serious axe violation", async (width, scheme) => {
    await page.setViewportSize({ width, height: 800 });
    await page.emulateMedia({ colorScheme: scheme });
    const artefact = `${ARTIFACTS}${name}-${width}-${scheme}`;
    const measured = await overflow(page);
    const problems = await axeProblems(page, artefact);
    await page.screenshot({ path: `${artefact}.png`, fullPage: true });
    expect(measured.offenders, `elements past the right edge at ${width} px`).toEqual([]);
    expect(measured.scrollWidth, "document scroll width").toBeLessThanOrEqual(measured.clientWidth);
    expect(problems, "axe: serious or critical violations").toEqual([]);
  });
});
