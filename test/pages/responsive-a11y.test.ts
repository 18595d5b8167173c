// Every page in a real Chromium at 320, 390 and 1280 px, light and dark: no horizontal overflow,
// no field or button too small to use, no serious or critical axe violation, and a screenshot of each kept in test-artifacts/pages/
// (looked at by people, never compared by pixel). Also, per page: no inline script, a CSRF token
// in every form, autocomplete on every input, no CSP violation, and the sign-in error summary
// leading to the field it is about.
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium, type Chromium } from "../support/chromium.ts";
import { chromiumDriver, PAGE_NAMES, reach, startSite, type PageName, type Site } from "./visit.ts";
import { axeProblems, markupProblems, NO_MARKUP_PROBLEMS, overflow, smallControls } from "./page-checks.ts";

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
    const markup = await markupProblems(page);
    expect(markup).toEqual(NO_MARKUP_PROBLEMS);
    expect(cspViolations).toEqual([]);
  });

  if (name === "sign-in" || name === "sign-in-error") {
    it("asks for the email as username (offering passkeys in its autofill) and the password as current-password", async () => {
      expect(await page.locator('input[name="email"]').getAttribute("autocomplete")).toBe("username webauthn");
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

  it.each(VIEWS)("at %i px, %s: no horizontal overflow, no control too small, no serious axe violation", async (width, scheme) => {
    await page.setViewportSize({ width, height: 800 });
    await page.emulateMedia({ colorScheme: scheme });
    const artefact = `${ARTIFACTS}${name}-${width}-${scheme}`;
    const measured = await overflow(page);
    const problems = await axeProblems(page, artefact);
    await page.screenshot({ path: `${artefact}.png`, fullPage: true });
    expect(measured.offenders, `elements past the right edge at ${width} px`).toEqual([]);
    expect(await smallControls(page), "fields and buttons too small to use").toEqual([]);
    expect(measured.scrollWidth, "document scroll width").toBeLessThanOrEqual(measured.clientWidth);
    expect(problems, "axe: serious or critical violations").toEqual([]);
  });
});
