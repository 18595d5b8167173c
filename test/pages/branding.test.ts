// The operator's branding on every page, in a real Chromium: BRAND_NAME in the header and the
// <title>, the BRAND_LOGO_URL image in the header (really loaded: the CSP admits it), BRAND_COLOR
// on the primary button with text readable on it (WCAG 4.5:1) in the light and the dark scheme; a
// client's own name and logo on its sign-in page. And a bad BRAND_COLOR stops start-up: loadConfig
// throws a one-line ConfigError, and `idp serve` exits 1 with one `idp: ` line before opening the
// database. Screenshots of the branded pages go to test-artifacts/pages/branded-*.png.
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { AxeBuilder } from "@axe-core/playwright";
import pg from "pg";
import type { BrowserContext, Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../idp/config.ts";
import { translate, type MessageId } from "../../idp/pages/i18n.ts";
import { collectCspViolations, launchChromium, type Chromium } from "../support/chromium.ts";
import { configError } from "../support/config-error.ts";
import { createEmptyPostgresDatabase } from "../support/database.ts";
import { freePort } from "../support/idp.ts";
import { chromiumDriver, PAGE_NAMES, reach, startSite, type PageName, type ReachOptions, type Site } from "./visit.ts";

const ARTIFACTS = fileURLToPath(new URL("../../test-artifacts/pages/", import.meta.url));
const BRAND_NAME = "Acme Identity";
/** A light colour in the short form: white text on it would fail, so the page must pick dark text. */
const LIGHT_BRAND = { setting: "#fc0", rgb: [255, 204, 0] } as const;
/** A dark colour in the long form, upper case. */
const DARK_BRAND = { setting: "#1D4ED8", rgb: [29, 78, 216] } as const;
const APP = { id: "acme-notes", name: "Acme Notes" } as const;

/** The pages with a primary button, and its label. */
const PRIMARY_BUTTON: Partial<Record<PageName, MessageId>> = {
  "sign-in": "login.submit",
  "sign-in-error": "login.submit",
  consent: "consent.allow",
  "sign-out": "logout.confirm",
};

let site: Site;
let darkBrandSite: Site;
let chromium: Chromium | undefined;
const brandLogo = (origin: string) => `${origin}/brand-logo.png`;
const appLogo = (origin: string) => `${origin}/app-logo.png`;

beforeAll(async () => {
  const launching = launchChromium().then((launched) => (chromium = launched));
  launching.catch(() => {});
  [site, darkBrandSite] = await Promise.all([
    startSite({
      env: (origin) => ({ BRAND_NAME, BRAND_LOGO_URL: brandLogo(origin), BRAND_COLOR: LIGHT_BRAND.setting }),
      clients: (origin) => [
        {
          id: APP.id,
          name: APP.name,
          logoUri: appLogo(origin),
          public: true,
          firstParty: true,
          redirectUris: [`${origin}/callback`],
        },
      ],
    }),
    startSite({ env: (origin) => ({ BRAND_NAME, BRAND_LOGO_URL: brandLogo(origin), BRAND_COLOR: DARK_BRAND.setting }) }),
  ]);
  await launching;
}, 120_000);

afterAll(async () => {
  await chromium?.close();
  await Promise.all([site?.close(), darkBrandSite?.close()]);
});

type Opened = { context: BrowserContext; page: Page; cspViolations: string[] };

/** A fresh context at the page, every CSP violation Chromium reports collected. */
async function open(on: Site, name: PageName, options: ReachOptions = {}): Promise<Opened> {
  const context = await chromium!.newContext();
  const page = await context.newPage();
  const cspViolations = collectCspViolations(page);
  await reach(on, chromiumDriver(page), name, options);
  return { context, page, cspViolations };
}

/** Whether an image element finished loading a real picture. */
async function loaded(image: Locator): Promise<{ complete: boolean; naturalWidth: number }> {
  return image.evaluate((element: HTMLImageElement) => ({ complete: element.complete, naturalWidth: element.naturalWidth }));
}

type Rgba = [number, number, number, number];

/** The element's computed background and text colours as sRGB bytes (whatever syntax the stylesheet used). */
async function colours(element: Locator): Promise<{ background: Rgba; text: Rgba; css: string }> {
  return element.evaluate((node) => {
    const style = getComputedStyle(node);
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 1;
    const context = canvas.getContext("2d", { willReadFrequently: true })!;
    const bytes = (css: string) => {
      context.clearRect(0, 0, 1, 1);
      context.fillStyle = css;
      context.fillRect(0, 0, 1, 1);
      return [...context.getImageData(0, 0, 1, 1).data] as [number, number, number, number];
    };
    return { background: bytes(style.backgroundColor), text: bytes(style.color), css: `background ${style.backgroundColor}, color ${style.color}` };
  });
}

/** WCAG 2 contrast ratio of two opaque sRGB colours. */
function contrast(a: readonly number[], b: readonly number[]): number {
  const luminance = ([r, g, b]: readonly number[]) => {
    const linear = (channel: number) => {
      const c = channel / 255;
      return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * linear(r!) + 0.7152 * linear(g!) + 0.0722 * linear(b!);
  };
  const [high, low] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (high + 0.05) / (low + 0.05);
}

it("computes WCAG contrast as the spec's examples give it", () => {
  expect(contrast([0, 0, 0], [255, 255, 255])).toBeCloseTo(21, 5);
  expect(contrast([255, 255, 255], [255, 255, 255])).toBe(1);
  // #767676 on white is the classic smallest grey that passes AA (4.54:1).
  expect(contrast([0x76, 0x76, 0x76], [255, 255, 255])).toBeCloseTo(4.54, 2);
});

/** The primary button: light scheme in exactly the brand colour; text on it readable in both schemes. */
async function expectBrandButton(page: Page, label: MessageId, brand: { setting: string; rgb: readonly number[] }): Promise<void> {
  const button = page.getByRole("button", { name: translate("en", label), exact: true });
  await page.emulateMedia({ colorScheme: "light" });
  const light = await colours(button);
  expect(light.background, `light scheme: the button's background is BRAND_COLOR ${brand.setting} (${light.css})`).toEqual([...brand.rgb, 255]);
  expect(light.text[3], `light scheme: opaque text (${light.css})`).toBe(255);
  expect(contrast(light.text, light.background), `light scheme: text contrast on the button (${light.css})`).toBeGreaterThanOrEqual(4.5);
  await page.emulateMedia({ colorScheme: "dark" });
  const dark = await colours(button);
  expect([dark.background[3], dark.text[3]], `dark scheme: opaque colours (${dark.css})`).toEqual([255, 255]);
  expect(contrast(dark.text, dark.background), `dark scheme: text contrast on the button (${dark.css})`).toBeGreaterThanOrEqual(4.5);
}

describe.each(PAGE_NAMES)("the %s page, branded", (name: PageName) => {
  let opened: Opened;

  beforeAll(async () => {
    opened = await open(site, name);
  }, 60_000);

  afterAll(async () => {
    await opened?.context.close();
  });

  it("shows BRAND_NAME in its header and <title>, and the BRAND_LOGO_URL image in its header, loaded under the CSP", async () => {
    const { page, cspViolations } = opened;
    const header = page.getByRole("banner");
    expect(await header.count(), "one header (banner landmark)").toBe(1);
    expect(await header.innerText()).toContain(BRAND_NAME);
    expect(await page.title()).toContain(BRAND_NAME);
    const logo = header.locator(`img[src="${brandLogo(site.appOrigin)}"]`);
    expect(await logo.count(), "the brand logo in the header").toBe(1);
    expect(await loaded(logo)).toMatchObject({ complete: true, naturalWidth: 8 });
    expect(cspViolations).toEqual([]);
  });

  const label = PRIMARY_BUTTON[name];
  if (label) {
    it(`paints the primary button (${label}) in BRAND_COLOR with readable text, light and dark`, async () => {
      await expectBrandButton(opened.page, label, LIGHT_BRAND);
    });
  }

  it("has no serious or critical axe violation with the brand, light and dark", async () => {
    const { page } = opened;
    await page.setViewportSize({ width: 390, height: 800 });
    await mkdir(ARTIFACTS, { recursive: true });
    const problems: string[] = [];
    for (const scheme of ["light", "dark"] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.screenshot({ path: `${ARTIFACTS}branded-${name}-390-${scheme}.png`, fullPage: true });
      const { violations } = await new AxeBuilder({ page }).analyze();
      for (const violation of violations.filter((found) => found.impact === "serious" || found.impact === "critical")) {
        for (const node of violation.nodes) problems.push(`${scheme}: ${violation.id} (${violation.impact}) at ${node.target.join(" ")}: ${(node.failureSummary ?? violation.help).replace(/\s+/g, " ")}`);
      }
    }
    expect(problems).toEqual([]);
  });
});

describe("a dark BRAND_COLOR in the #rrggbb form", () => {
  it("is the sign-in button's colour, with readable text in both schemes", async () => {
    const { context, page, cspViolations } = await open(darkBrandSite, "sign-in");
    try {
      await expectBrandButton(page, "login.submit", DARK_BRAND);
      expect(cspViolations).toEqual([]);
    } finally {
      await context.close();
    }
  });
});

describe("a client's own name and logo", () => {
  it("appear on its sign-in page: 'to continue to Acme Notes' and its logo, loaded under the CSP", async () => {
    const { context, page, cspViolations } = await open(site, "sign-in", { clientId: APP.id });
    try {
      expect(await page.locator("body").innerText()).toContain(translate("en", "layout.continueTo", { app: APP.name }));
      const logo = page.locator(`img[src="${appLogo(site.appOrigin)}"]`);
      expect(await logo.count(), "the client's logo on its sign-in page").toBe(1);
      expect(await loaded(logo)).toMatchObject({ complete: true, naturalWidth: 8 });
      expect(cspViolations).toEqual([]);
    } finally {
      await context.close();
    }
  });
});

describe("BRAND_COLOR and BRAND_LOGO_URL in the configuration", () => {
  it.each(["red", "#12345", "#ggg", "javascript:alert(1)", "#fc0;background:url(x)", "fc0"])("refuses BRAND_COLOR=%s with one line naming it", (value) => {
    const { message } = configError({ BRAND_COLOR: value });
    expect(message).toContain("BRAND_COLOR");
    expect(message).not.toContain("\n");
  });

  it.each(["#fc0", "#1D4ED8", "#0b57d0"])("accepts BRAND_COLOR=%s", (value) => {
    expect(() => loadConfig({ BRAND_COLOR: value })).not.toThrow();
  });

  it.each(["http://example.com/logo.png", "javascript:alert(1)", "data:image/png;base64,AAAA", "logo.png"])(
    "refuses BRAND_LOGO_URL=%s (https, or http for localhost only) with one line naming it",
    (value) => {
      const { message } = configError({ BRAND_LOGO_URL: value });
      expect(message).toContain("BRAND_LOGO_URL");
      expect(message).not.toContain("\n");
    },
  );

  it.each(["https://cdn.example.com/logo.png", "http://localhost:8080/logo.png"])("accepts BRAND_LOGO_URL=%s", (value) => {
    expect(() => loadConfig({ BRAND_LOGO_URL: value })).not.toThrow();
  });
});

describe("idp serve with a bad BRAND_COLOR", () => {
  const ROOT = fileURLToPath(new URL("../..", import.meta.url));

  it("exits 1 with one `idp: ` line naming BRAND_COLOR, before opening the database", async () => {
    const database = await createEmptyPostgresDatabase();
    const keysDir = await mkdtemp(path.join(os.tmpdir(), "idp-brand-keys-"));
    const port = await freePort();
    const child = spawn(process.execPath, [path.join("idp", "cli", "bin.ts"), "serve"], {
      cwd: ROOT,
      env: { DATABASE_URL: database.url, KEYS_DIR: keysDir, PORT: String(port), BRAND_COLOR: "red", PATH: process.env.PATH ?? "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.stdout.resume();
    const exited = new Promise<number | null>((resolve) => child.once("close", (status) => resolve(status)));
    try {
      // Either it exits, or it comes up and answers /healthz: then the setting was not checked.
      let started = false;
      while (child.exitCode === null && !started) {
        started = await fetch(`http://127.0.0.1:${port}/healthz`).then(
          (response) => response.ok,
          () => false,
        );
        if (!started) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      if (started) child.kill("SIGKILL");
      const status = await exited;
      expect(started, "idp serve started and answered /healthz with BRAND_COLOR=red").toBe(false);
      expect(status).toBe(1);
      expect(stderr).toMatch(/^idp: .*BRAND_COLOR/);
      expect(stderr.split("\n").filter(Boolean)).toHaveLength(1);
      // Stopped before migrating: the database is still empty.
      const sql = new pg.Client({ connectionString: database.url });
      await sql.connect();
      try {
        const { rows } = await sql.query<{ count: string }>("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'");
        expect(Number(rows[0]!.count)).toBe(0);
      } finally {
        await sql.end();
      }
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await database.drop();
      await rm(keysDir, { recursive: true, force: true });
    }
  }, 30_000);
});
